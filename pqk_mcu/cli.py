"""Command line: thin click commands over library functions.

Every ``PqkError`` becomes one line ``error: <message>`` on stderr and exit code 2.
Commands are registered from the modules that own them (see ``_register``).
"""

from __future__ import annotations

import sys

import click

from pqk_mcu import __version__
from pqk_mcu.errors import PqkError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pqk-mcu")
def cli() -> None:
    """pqk-mcu: train pruned int8 networks with PQK and compile them for Cortex-M."""


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="pqk-mcu", standalone_mode=False)
    except PqkError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(2)
    except click.ClickException as error:
        error.show()
        sys.exit(2)
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)


if __name__ == "__main__":
    main()
