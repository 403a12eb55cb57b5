"""Where pqk-mcu finds its data and keeps its caches.

``templates/`` and ``firmware/`` sit at the top of the source tree; a wheel carries them inside the
package (pyproject maps them to ``pqk_mcu/templates`` and ``pqk_mcu/firmware``). ``resource_dir``
finds them either way through ``importlib.resources``. Built objects (host runtime kernels, the
QEMU counting plugin) go to ``cache_dir``: the user's cache folder, or ``$PQK_MCU_CACHE_DIR``;
never into the installed package.
"""

from __future__ import annotations

import os
from functools import cache
from importlib.resources import files
from pathlib import Path

import platformdirs

from pqk_mcu.errors import PqkError

CACHE_ENV = "PQK_MCU_CACHE_DIR"
RESOURCES = ("templates", "firmware")


@cache
def resource_dir(name: str) -> Path:
    """The ``templates`` or ``firmware`` folder: inside the installed package, else in the source tree."""
    if name not in RESOURCES:
        raise ValueError(f"unknown resource folder {name!r}")
    package = files("pqk_mcu")
    if not isinstance(package, Path):
        raise PqkError(f"pqk-mcu is installed as an archive ({package}); install it unpacked (pip does)")
    for candidate in (package / name, package.parent / name):
        if candidate.is_dir():
            return candidate
    raise PqkError(f"pqk-mcu's {name}/ folder is missing from {package} (a broken installation)")


def cache_dir(*parts: str) -> Path:
    """``$PQK_MCU_CACHE_DIR`` or the user cache folder of pqk-mcu, with ``parts`` appended."""
    root = os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir("pqk-mcu", appauthor=False)
    return Path(root).joinpath(*parts)
