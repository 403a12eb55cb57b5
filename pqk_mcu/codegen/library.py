"""The library folder around a generated model: the runtime files it uses, build files, a README.

``generate_c`` writes, beside the model sources, exactly the runtime kernels and headers the model
calls (``runtime/``, copied unchanged), a ``CMakeLists.txt`` with one static library target, a
Makefile fragment, a Zephyr module (``zephyr/``), for a board a CMake toolchain file, and a README
with the API, the memory numbers and the compiler flags. The folder builds anywhere with a C
compiler and CMake (or Make, or Zephyr's build).

``LibraryNames`` spells the names: without ``--name`` the files are model.h / model.c /
model_weights.c and the C names start with ``pqk_`` / ``PQK_``; ``--name kws`` gives
kws_model.h / kws_model.c / kws_model_weights.c with ``kws_`` / ``KWS_``, so that two models link
into one firmware.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from pqk_mcu.errors import PqkError
from pqk_mcu.render import render_template

DEFAULT_PREFIX = "pqk"
RUNTIME_FOLDER = "runtime"
TOOLCHAIN_FILE = "arm-none-eabi.cmake"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_LOCAL_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


@dataclass(frozen=True)
class LibraryNames:
    prefix: str  # C symbols <prefix>_model_invoke, <prefix>_op<i>_*; macros <PREFIX>_MODEL_*
    stem: str    # model files <stem>.h, <stem>.c, <stem>_weights.c

    @classmethod
    def of(cls, name: str | None) -> LibraryNames:
        """The names of an unnamed model (``None``) or of ``--name NAME``."""
        if name is None:
            return cls(DEFAULT_PREFIX, "model")
        if not _NAME.match(name):
            raise PqkError(f"--name {name!r}: expected a lowercase C identifier of at most 32 characters "
                           "(letters, digits, '_', starting with a letter)")
        if name == DEFAULT_PREFIX:
            raise PqkError(f"--name {name!r} is taken by the runtime kernels; choose another name")
        return cls(name, f"{name}_model")

    @property
    def target(self) -> str:
        """CMake / Zephyr library and Make variable stem."""
        return f"{self.prefix}_model"

    @property
    def model_files(self) -> tuple[str, str, str]:
        """Header, op sequence, constant data."""
        return (f"{self.stem}.h", f"{self.stem}.c", f"{self.stem}_weights.c")

    @property
    def makefile(self) -> str:
        return f"{self.stem}.mk"

    def template_context(self) -> dict[str, str]:
        """What every template of the folder calls these names."""
        header, source, weights = self.model_files
        return {
            "prefix": self.prefix, "macro_prefix": self.prefix.upper(), "target": self.target,
            "header": header, "source": source, "weights": weights, "makefile": self.makefile,
            "variable": self.target.upper(),
        }


def runtime_files(kernels: Iterable[Path], runtime_dir: Path) -> list[Path]:
    """The kernel sources and every runtime header they (and the model) include, sorted by name."""
    pending = [*kernels, runtime_dir / "pqk_runtime.h"]
    found: dict[str, Path] = {}
    while pending:
        path = pending.pop()
        if path.name in found:
            continue
        found[path.name] = path
        for included in _LOCAL_INCLUDE.findall(path.read_text(encoding="utf-8")):
            if (runtime_dir / included).is_file():
                pending.append(runtime_dir / included)
    return [found[name] for name in sorted(found)]


def write_library_files(folder: Path, names: LibraryNames, runtime: list[Path], board, context: dict) -> list[str]:
    """Copy ``runtime`` into ``folder/runtime`` and render the build files and README; returns their paths.

    ``context`` holds the stamp (notice, generator, model hash) and the memory numbers of the model.
    """
    (folder / RUNTIME_FOLDER).mkdir()
    for path in runtime:
        shutil.copyfile(path, folder / RUNTIME_FOLDER / path.name)
    kernels = [f"{RUNTIME_FOLDER}/{path.name}" for path in runtime if path.suffix == ".c"]
    arch_flags = " ".join(board.arch_flags) if board is not None else ""
    context = {
        **context, **names.template_context(),
        "sources": [*names.model_files[1:], *kernels],
        "runtime_files": [path.name for path in runtime],
        "board": board.name if board is not None else "",
        "arch_flags": arch_flags,
        "flags_note": f"`{arch_flags}` ({board.name})" if board is not None else "the target's own flags (portable C)",
        "toolchain_file": TOOLCHAIN_FILE,
        "target_description": f"board {board.name} ({arch_flags})" if board is not None
        else "any target (portable C kernels; `--board` picks a board's DSP kernels)",
        "toolchain_hint": f", `-DCMAKE_TOOLCHAIN_FILE={TOOLCHAIN_FILE}` for {board.name}" if board is not None else "",
        "toolchain_file_note": f", `{TOOLCHAIN_FILE}`" if board is not None else "",
    }
    rendered = {
        "CMakeLists.txt": "library_CMakeLists.txt.j2",
        names.makefile: "library_model.mk.j2",
        "zephyr/module.yml": "library_zephyr_module.yml.j2",
        "zephyr/CMakeLists.txt": "library_zephyr_CMakeLists.txt.j2",
        "README.md": "library_README.md.j2",
    }
    if board is not None:
        rendered[TOOLCHAIN_FILE] = "library_toolchain.cmake.j2"
    (folder / "zephyr").mkdir()
    for name, template in rendered.items():
        (folder / name).write_text(render_template(template, context), encoding="utf-8")
    return [*rendered, *(f"{RUNTIME_FOLDER}/{path.name}" for path in runtime)]
