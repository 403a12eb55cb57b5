"""Cross-build firmware for a board with arm-none-eabi-gcc and report where the bytes go.

``build_firmware(gen_dir, board, app, out_dir)`` compiles the generated model (``gen_dir``), the
runtime kernels (``firmware/runtime``), the board layer (``firmware/boards``) and an app
(``firmware/apps/<app>``) with the board's CPU flags, links them with a linker script rendered
from the board's memory map, and returns the ELF, the map file and a size report splitting
flash and RAM into kernels, model glue, weights, indices, requantization tables, arena,
platform code and stack. A model that does not fit the board is refused with the numbers.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import jinja2
from tqdm import tqdm

from pqk_mcu.boards import Board, load_board
from pqk_mcu.errors import PqkError, ToolMissingError
from pqk_mcu.resources import resource_dir

FIRMWARE_DIR = resource_dir("firmware")
RUNTIME_DIR = FIRMWARE_DIR / "runtime"
BOARD_LAYER_DIR = FIRMWARE_DIR / "boards"
APPS_DIR = FIRMWARE_DIR / "apps"
LINKER_TEMPLATE = BOARD_LAYER_DIR / "cortex-m.ld.j2"

CROSS_GCC = "arm-none-eabi-gcc"
CROSS_INSTALL_HINT = "install it with: sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"

COMPILE_FLAGS = (
    "-std=c11", "-O2", "-g", "-ffunction-sections", "-fdata-sections", "-fno-common",
    "-Wall", "-Wextra", "-Wconversion", "-Werror", "-DPQK_HOOKS",
)
LINK_FLAGS = ("-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections")

# Sections in the ELF and what they cost: everything but .bss/.stack sits in flash,
# .data and .bss (and the stack) in RAM.
SECTION_KINDS = {
    ".isr_vector": "text", ".text": "text", ".rodata": "rodata", ".ARM.exidx": "rodata",
    ".data": "data", ".bss": "bss",
}
PARTS = ("text", "rodata", "data", "bss")

# Where the bytes come from. Objects are grouped by the folder they were compiled into; data of
# the generated model is split further by the array names pqk_mcu.codegen gives each category
# (<layer>_weights / _values, <layer>_columns / _row_ptr / _row_lengths, <layer>_bias / _multiplier / _shift,
# <layer>_value_columns: half weights, half indices,
# <layer>_table / _exp_table); the rest of its data (parameter structs, pointer tables) is "model".
CATEGORIES = ("kernels", "model", "weights", "indices", "requant", "tables", "arena", "platform")
_SYMBOL_CATEGORIES = (
    ("value_columns", re.compile(r"_value_columns$")),  # packed CSR nonzeros: split by _add()
    ("indices", re.compile(r"_(columns|row_ptr|row_lengths)$")),
    ("requant", re.compile(r"_(bias|multiplier|shift|copy_sizes)$")),
    ("tables", re.compile(r"_table$")),
    ("weights", re.compile(r"_(weights|values)$")),
)

_OVERFLOW = re.compile(r"region `(FLASH|RAM)' overflowed by (\d+) bytes")


@dataclass(frozen=True)
class SizeReport:
    """Bytes per category and section part; ``flash_bytes``/``ram_bytes`` are what the board must hold."""

    board: str
    flash_limit: int
    ram_limit: int
    stack_bytes: int
    parts: dict[str, dict[str, int]] = field(default_factory=dict)  # category -> part -> bytes

    def category_flash(self, category: str) -> int:
        part = self.parts.get(category, {})
        return part.get("text", 0) + part.get("rodata", 0) + part.get("data", 0)

    def category_ram(self, category: str) -> int:
        part = self.parts.get(category, {})
        return part.get("data", 0) + part.get("bss", 0)

    @property
    def flash_bytes(self) -> int:
        return sum(self.category_flash(c) for c in self.parts)

    @property
    def ram_bytes(self) -> int:
        return sum(self.category_ram(c) for c in self.parts) + self.stack_bytes

    @property
    def fits(self) -> bool:
        return self.flash_bytes <= self.flash_limit and self.ram_bytes <= self.ram_limit

    def to_json(self) -> dict:
        flash = {c: self.category_flash(c) for c in CATEGORIES}
        ram = {c: self.category_ram(c) for c in CATEGORIES}
        ram["stack"] = self.stack_bytes
        return {
            "board": self.board,
            "flash_bytes": {**flash, "total": self.flash_bytes, "limit": self.flash_limit},
            "ram_bytes": {**ram, "total": self.ram_bytes, "limit": self.ram_limit},
            "sections": {c: {p: self.parts.get(c, {}).get(p, 0) for p in PARTS} for c in CATEGORIES},
        }

    def table(self) -> str:
        """Plain-text table: one row per category, columns per section part and flash/RAM totals."""
        header = f"{'':<10}{'text':>10}{'rodata':>10}{'data':>10}{'bss':>10}{'flash':>10}{'ram':>10}"
        rows = [f"size report for {self.board}", header]
        for category in CATEGORIES:
            part = self.parts.get(category, {})
            rows.append(
                f"{category:<10}" + "".join(f"{part.get(p, 0):>10,}" for p in PARTS)
                + f"{self.category_flash(category):>10,}{self.category_ram(category):>10,}"
            )
        rows.append(f"{'stack':<10}{'':>40}{'':>10}{self.stack_bytes:>10,}")
        rows.append(
            f"{'total':<10}{'':>40}{self.flash_bytes:>10,}{self.ram_bytes:>10,}"
        )
        rows.append(
            f"{'limit':<10}{'':>40}{self.flash_limit:>10,}{self.ram_limit:>10,}"
        )
        return "\n".join(rows)


@dataclass(frozen=True)
class FirmwareBuild:
    elf: Path
    map_file: Path
    size: SizeReport


def require_cross_compiler() -> str:
    path = shutil.which(CROSS_GCC)
    if path is None:
        raise ToolMissingError(f"{CROSS_GCC} not found; {CROSS_INSTALL_HINT}")
    return path


def build_firmware(
    gen_dir: str | Path,
    board: Board | str | Path,
    app: str = "harness",
    out_dir: str | Path = "build",
    runtime_sources: Sequence[str | Path] | None = None,
    extra_sources: Sequence[str | Path] = (),
    defines: Sequence[str] = (),
) -> FirmwareBuild:
    """Build ``firmware.elf`` for ``board`` from the generated C in ``gen_dir``.

    ``runtime_sources`` restricts the runtime kernels compiled (default: every
    ``firmware/runtime/*.c``; unused ones are dropped by --gc-sections anyway).
    ``extra_sources`` are compiled with the app (shared firmware modules it links, e.g. the MFCC
    front-end); ``defines`` (``NAME=VALUE``) are passed to every compile as ``-D``.
    Writes ``firmware.elf``, ``firmware.map``, ``size.json`` and ``size.txt`` into ``out_dir``.
    Raises ``PqkError`` with the numbers when the image does not fit the board.
    """
    gcc = require_cross_compiler()
    board = board if isinstance(board, Board) else load_board(board)
    gen_dir, out_dir = Path(gen_dir), Path(out_dir)
    app_dir = APPS_DIR / app
    if not app_dir.is_dir():
        known = ", ".join(sorted(p.name for p in APPS_DIR.iterdir() if p.is_dir()))
        raise PqkError(f"unknown firmware app {app!r}; known apps: {known}")
    if not (gen_dir / "model.h").is_file():
        raise PqkError(f"{gen_dir} holds no generated model (model.h missing); run `pqk-mcu compile` first")
    runtime = [Path(p) for p in runtime_sources] if runtime_sources is not None else sorted(RUNTIME_DIR.glob("*.c"))
    groups = {
        "model": sorted(gen_dir.glob("*.c")),
        "runtime": runtime,
        "platform": sorted(BOARD_LAYER_DIR.glob("*.c")),
        "app": [*sorted(app_dir.glob("*.c")), *map(Path, extra_sources)],
    }
    include_dirs = [gen_dir, RUNTIME_DIR, BOARD_LAYER_DIR, app_dir]
    cflags = [*board.arch_flags, *COMPILE_FLAGS, *(f"-D{d}" for d in defines), *(f"-I{d.resolve()}" for d in include_dirs)]

    out_dir.mkdir(parents=True, exist_ok=True)
    objects: list[Path] = []
    # On a terminal, a bar over the compile steps: a large model's C takes a while.
    steps = tqdm([(group, sources) for group, sources in groups.items() if sources], desc=f"build for {board.name}",
                 unit="step", leave=False, disable=None)
    for group, sources in steps:
        obj_dir = out_dir / "obj" / group
        obj_dir.mkdir(parents=True, exist_ok=True)
        _run_tool([gcc, *cflags, "-c", *(str(Path(s).resolve()) for s in sources)], cwd=obj_dir,
                  what=f"compiling the {group} sources for {board.name}")
        objects += [obj_dir / (Path(s).stem + ".o") for s in sources]

    elf, map_file = out_dir / "firmware.elf", out_dir / "firmware.map"
    overflow = _link(gcc, board, objects, out_dir, elf, map_file, inflate=False)
    if overflow:
        # Link once more with room to spare, only to measure what the image would need.
        _link(gcc, board, objects, out_dir, elf, map_file, inflate=True)
        report = size_report(map_file, board)
        elf.unlink()
        raise PqkError(_does_not_fit_message(report))
    report = size_report(map_file, board)
    (out_dir / "size.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    (out_dir / "size.txt").write_text(report.table() + "\n")
    return FirmwareBuild(elf=elf, map_file=map_file, size=report)


def _link(gcc: str, board: Board, objects: Iterable[Path], out_dir: Path, elf: Path, map_file: Path,
          inflate: bool) -> bool:
    """Link; returns True when a memory region overflowed (other link errors raise)."""
    script = out_dir / ("firmware-measure.ld" if inflate else "firmware.ld")
    script.write_text(render_linker_script(board, inflate=inflate))
    command = [
        gcc, *board.arch_flags, *LINK_FLAGS, f"-T{script}", f"-Wl,-Map={map_file}",
        *(str(o) for o in objects), "-o", str(elf),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode == 0:
        if inflate:
            script.unlink()
        return False
    if not inflate and _OVERFLOW.search(result.stderr):
        return True
    raise PqkError(f"linking firmware for {board.name} failed:\n{result.stderr.strip()}")


def render_linker_script(board: Board, inflate: bool = False) -> str:
    """The board's linker script; ``inflate`` grows both regions (to measure an image too big for the board)."""
    flash_size, ram_size = board.flash.size, board.ram.size
    if inflate:
        flash_size = _room_above(board.flash.origin, board.ram.origin)
        ram_size = _room_above(board.ram.origin, board.flash.origin)
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    template = environment.from_string(LINKER_TEMPLATE.read_text())
    return template.render(
        board_name=board.name,
        board_file=board.source.name,
        flash_origin=f"0x{board.flash.origin:08X}",
        flash_size=f"0x{flash_size:08X}",
        ram_origin=f"0x{board.ram.origin:08X}",
        ram_size=f"0x{ram_size:08X}",
        stack_bytes=f"0x{board.stack_bytes:X}",
    )


def _room_above(origin: int, other_origin: int) -> int:
    limit = other_origin if other_origin > origin else 1 << 32
    return min(limit - origin, 1 << 30)


def _does_not_fit_message(report: SizeReport) -> str:
    problems = []
    if report.flash_bytes > report.flash_limit:
        detail = ", ".join(f"{c} {report.category_flash(c):,}" for c in CATEGORIES if report.category_flash(c))
        problems.append(f"flash needs {report.flash_bytes:,} B > {report.flash_limit:,} B ({detail})")
    if report.ram_bytes > report.ram_limit:
        detail = ", ".join(f"{c} {report.category_ram(c):,}" for c in CATEGORIES if report.category_ram(c))
        problems.append(f"RAM needs {report.ram_bytes:,} B > {report.ram_limit:,} B ({detail}, stack {report.stack_bytes:,})")
    return f"model does not fit board {report.board}: " + "; ".join(problems)


def _run_tool(command: list[str], cwd: Path, what: str) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise PqkError(f"{what} failed:\n{(result.stderr or result.stdout).strip()}")


# ---- map file parsing ----

_FILL = re.compile(r"^ \*fill\*\s+0x[0-9a-fA-F]+\s+0x([0-9a-fA-F]+)")
_INPUT_SECTION = re.compile(r"^ (\S+)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S.*)$")
_INPUT_SECTION_NAME_ONLY = re.compile(r"^ (\S+)$")
_INPUT_SECTION_CONTINUATION = re.compile(r"^\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S.*)$")
_OUTPUT_SECTION = re.compile(r"^(\.\S+|/DISCARD/)")


def size_report(map_file: str | Path, board: Board) -> SizeReport:
    """Attribute every input section the linker kept to a category, from the map file."""
    parts: dict[str, dict[str, int]] = {}
    output_kind: str | None = None
    pending_name: str | None = None
    in_memory_map = False
    for line in Path(map_file).read_text().splitlines():
        if not in_memory_map:
            in_memory_map = line.startswith("Linker script and memory map")
            continue
        if line.startswith("OUTPUT("):
            break
        heading = _OUTPUT_SECTION.match(line)
        if heading:
            output_kind = SECTION_KINDS.get(heading.group(1).split()[0])
            pending_name = None
            continue
        if output_kind is None:
            continue
        if pending_name is not None:
            continued = _INPUT_SECTION_CONTINUATION.match(line)
            if continued:
                _add(parts, pending_name, int(continued.group(2), 16), continued.group(3), output_kind)
            pending_name = None
            continue
        fill = _FILL.match(line)
        if fill:  # alignment padding between input sections
            _add(parts, "*fill*", int(fill.group(1), 16), "", output_kind)
            continue
        entry = _INPUT_SECTION.match(line)
        if entry:
            _add(parts, entry.group(1), int(entry.group(3), 16), entry.group(4), output_kind)
            continue
        name_only = _INPUT_SECTION_NAME_ONLY.match(line)
        if name_only and not name_only.group(1).startswith("*("):
            pending_name = name_only.group(1)
    return SizeReport(
        board=board.name, flash_limit=board.flash.size, ram_limit=board.ram.size,
        stack_bytes=board.stack_bytes, parts=parts,
    )


def _add(parts: dict[str, dict[str, int]], section: str, size: int, origin: str, kind: str) -> None:
    if size == 0:
        return
    category = classify_section(section, origin, kind)
    if category == "value_columns":  # uint16 entries: one value byte and one column byte each
        _add_bytes(parts, "weights", kind, size // 2)
        _add_bytes(parts, "indices", kind, size - size // 2)
    else:
        _add_bytes(parts, category, kind, size)


def _add_bytes(parts: dict[str, dict[str, int]], category: str, kind: str, size: int) -> None:
    bucket = parts.setdefault(category, {})
    bucket[kind] = bucket.get(kind, 0) + size


def classify_section(section: str, origin: str, kind: str) -> str:
    """Category of one input section: by the object's build group, then by symbol name for model data."""
    group = Path(origin.strip()).parent.name if origin.strip().endswith(".o") else ""
    if group == "runtime":
        return "kernels"
    if group != "model":
        return "platform"
    if kind == "text":
        return "model"
    if kind == "bss":
        return "arena"
    symbol = section.split(".", 2)[-1] if section.count(".") >= 2 else ""
    for category, pattern in _SYMBOL_CATEGORIES:
        if pattern.search(symbol):
            return category
    return "model"
