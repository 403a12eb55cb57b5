"""Program a board's flash through pyOCD or OpenOCD with the targets its board file names.

``flash_command`` builds the command (checking that the ELF is ARM code linked into the board's flash);
``flash`` runs it and turns a failure into one line saying why.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pqk_mcu.boards import Board, flashable_board_names, load_board
from pqk_mcu.errors import PqkError, ToolMissingError
from pqk_mcu.runner.elf import check_firmware

FLASH_TOOLS = ("pyocd", "openocd")
FLASH_INSTALL_HINT = (
    "OpenOCD comes with `make setup` (tools/setup-system.sh); or install pyOCD: "
    ".venv/bin/pip install pyocd, then `pyocd pack install <target>` for the part"
)


def flash_command(elf: str | Path, board: Board | str, tool: str | None = None) -> list[str]:
    """The command that programs ``elf`` into ``board``: ``tool``, else the first of pyOCD / OpenOCD installed.

    The ELF must be ARM code linked into the board's flash (and built for it: ``check_firmware``)."""
    spec = board if isinstance(board, Board) else load_board(board)
    targets = spec.flash_targets
    if targets is None:
        raise PqkError(f"board {spec.name} is not flashable (flashable boards: {', '.join(flashable_board_names())})")
    elf = Path(elf)
    if not elf.is_file():
        raise PqkError(f"{elf}: no such ELF file")
    check_firmware(elf, spec)
    if tool is None:
        tool = next((name for name in FLASH_TOOLS if shutil.which(name) is not None), FLASH_TOOLS[0])
    if tool == "pyocd":
        return ["pyocd", "flash", "--target", targets.pyocd, "--format", "elf", str(elf)]
    if tool == "openocd":
        return ["openocd", *targets.openocd, "-c", f"program {{{elf}}} verify reset exit"]
    raise PqkError(f"unknown flash tool {tool!r}; use one of {', '.join(FLASH_TOOLS)}")


def flash(elf: str | Path, board: Board | str, dry_run: bool = False, tool: str | None = None) -> list[str]:
    """Program the board; with ``dry_run`` only return the command. Raises PqkError when the tool fails."""
    command = flash_command(elf, board, tool)
    if dry_run:
        return command
    if shutil.which(command[0]) is None:
        raise ToolMissingError(f"{command[0]} is not installed; {FLASH_INSTALL_HINT}")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        # the first error says why (e.g. no debug probe: "Error: open failed"); the last line is a farewell
        reason = next((line for line in lines if line.startswith("Error")), lines[-1] if lines else "no output")
        name = board.name if isinstance(board, Board) else board
        raise PqkError(f"{command[0]} failed (exit {result.returncode}): {reason.strip()}; is {name}'s debug probe "
                       "(ST-LINK) connected over USB, and may this user open it (udev rules)?")
    return command
