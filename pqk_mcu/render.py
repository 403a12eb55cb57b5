"""Rendering of templates/ (logic-free Jinja): one environment for every generated source file, so
the same context gives byte-identical output whoever renders it."""

from __future__ import annotations

from functools import cache
from typing import Any, Mapping

import jinja2

from pqk_mcu.resources import resource_dir

TEMPLATES_DIR = resource_dir("templates")


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_template(name: str, context: Mapping[str, Any]) -> str:
    """``templates/<name>`` rendered with ``context``."""
    return _environment().get_template(name).render(context)
