"""Boards as data: ``pqk_mcu/boards/<name>.yaml`` files checked against one schema.

A board file names the CPU and its compiler flags, the features kernels may use (DSP, FPU, MVE),
the memory map the linker script is rendered from, the stack the firmware reserves, the QEMU
machine that emulates it (or ``null`` for parts that are only built), the console (for a USART
console on an emulated board, the QEMU ``-serial`` port wired to it) and the targets pyOCD and
OpenOCD program it as (or ``null`` for boards that are not flashed).
A malformed file is rejected with a ``PqkError`` naming the file and the offending field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pqk_mcu.errors import PqkError

BOARDS_DIR = Path(__file__).parent
CONSOLE_KINDS = ("semihosting", "usart")
_ARCH_FLAG_PREFIXES = ("-mcpu=", "-mthumb", "-mfloat-abi=", "-mfpu=")
_TOP_FIELDS = (
    "name", "description", "cpu", "arch_flags", "has_dsp", "has_fpu", "has_mve",
    "memory", "stack_bytes", "qemu_machine", "console", "flash_targets",
)


@dataclass(frozen=True)
class MemoryRegion:
    origin: int
    size: int

    @property
    def end(self) -> int:
        return self.origin + self.size


@dataclass(frozen=True)
class Console:
    kind: str              # "semihosting" or "usart"
    base: int | None       # peripheral base address for "usart"
    qemu_serial: int | None  # QEMU -serial port (in order) wired to the USART, on emulated boards


@dataclass(frozen=True)
class FlashTargets:
    pyocd: str                 # pyOCD --target name
    openocd: tuple[str, ...]   # OpenOCD arguments selecting the probe and target scripts


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    cpu: str
    arch_flags: tuple[str, ...]
    has_dsp: bool
    has_fpu: bool
    has_mve: bool
    flash: MemoryRegion
    ram: MemoryRegion
    stack_bytes: int
    qemu_machine: str | None
    console: Console
    flash_targets: FlashTargets | None  # None: not a board pqk-mcu flashes
    source: Path

    @property
    def emulated(self) -> bool:
        return self.qemu_machine is not None


def board_names() -> list[str]:
    """Every board shipped with pqk-mcu, sorted by name."""
    return sorted(p.stem for p in BOARDS_DIR.glob("*.yaml"))


def emulated_board_names() -> list[str]:
    """Boards QEMU can run (a ``qemu_machine`` is set)."""
    return [name for name in board_names() if load_board(name).emulated]


def flashable_board_names() -> list[str]:
    """Boards ``pqk-mcu flash`` programs (``flash_targets`` are set)."""
    return [name for name in board_names() if load_board(name).flash_targets is not None]


def is_board_file(name_or_path: str | os.PathLike) -> bool:
    """Whether ``load_board`` reads this as a path to a board YAML file (else as a shipped board's name)."""
    text = str(name_or_path)
    return text.endswith((".yaml", ".yml")) or os.sep in text


def load_board(name_or_path: str | os.PathLike) -> Board:
    """Load a shipped board by name (``cortex-m4``) or any board YAML file by path."""
    text = str(name_or_path)
    if is_board_file(text):
        path = Path(text)
        if not path.is_file():
            raise PqkError(f"board file not found: {path}")
    else:
        path = BOARDS_DIR / f"{text}.yaml"
        if not path.is_file():
            raise PqkError(f"unknown board {text!r}; known boards: {', '.join(board_names())}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise PqkError(f"board file {path}: not valid YAML ({error})".replace("\n", " ")) from None
    return _parse(data, path)


def _parse(data: Any, path: Path) -> Board:
    def fail(field: str, problem: str) -> PqkError:
        return PqkError(f"board file {path}: field '{field}' {problem}")

    def field(mapping: dict, key: str, prefix: str = "") -> Any:
        if key not in mapping:
            raise fail(prefix + key, "is missing")
        return mapping[key]

    def string(mapping: dict, key: str, prefix: str = "") -> str:
        value = field(mapping, key, prefix)
        if not isinstance(value, str) or not value.strip():
            raise fail(prefix + key, f"must be a non-empty string, got {value!r}")
        return value

    def boolean(mapping: dict, key: str) -> bool:
        value = field(mapping, key)
        if not isinstance(value, bool):
            raise fail(key, f"must be true or false, got {value!r}")
        return value

    def integer(mapping: dict, key: str, prefix: str = "", minimum: int = 0) -> int:
        value = field(mapping, key, prefix)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum or value >= 1 << 32:
            raise fail(prefix + key, f"must be an integer in [{minimum}, 2^32), got {value!r}")
        return value

    def mapping_of(value: Any, name: str, keys: tuple[str, ...]) -> dict:
        if not isinstance(value, dict):
            raise fail(name, f"must be a mapping with keys {', '.join(keys)}, got {value!r}")
        unknown = sorted(set(value) - set(keys))
        if unknown:
            raise fail(f"{name}.{unknown[0]}" if name else unknown[0], "is not a known field")
        return value

    if not isinstance(data, dict):
        raise PqkError(f"board file {path}: must be a YAML mapping of board fields")
    mapping_of(data, "", _TOP_FIELDS)

    name = string(data, "name")
    if name != path.stem and path.parent == BOARDS_DIR:
        raise fail("name", f"must match the file name {path.stem!r}, got {name!r}")

    flags = field(data, "arch_flags")
    if not isinstance(flags, list) or not flags or not all(isinstance(f, str) for f in flags):
        raise fail("arch_flags", f"must be a non-empty list of compiler flags, got {flags!r}")
    for flag in flags:
        if not flag.startswith(_ARCH_FLAG_PREFIXES):
            raise fail("arch_flags", f"holds {flag!r}; only {', '.join(_ARCH_FLAG_PREFIXES)} flags belong here")
    cpu = string(data, "cpu")
    if f"-mcpu={cpu}" not in flags:
        raise fail("arch_flags", f"must contain -mcpu={cpu} to match field 'cpu'")

    memory = mapping_of(field(data, "memory"), "memory", ("flash", "ram"))
    regions = {}
    for region in ("flash", "ram"):
        entry = mapping_of(field(memory, region, "memory."), f"memory.{region}", ("origin", "size"))
        prefix = f"memory.{region}."
        regions[region] = MemoryRegion(integer(entry, "origin", prefix), integer(entry, "size", prefix, minimum=1))
        if regions[region].end > 1 << 32:
            raise fail(f"memory.{region}.size", "runs past the 4 GiB address space")
    if regions["flash"].origin < regions["ram"].end and regions["ram"].origin < regions["flash"].end:
        raise fail("memory.ram", "overlaps memory.flash")

    stack_bytes = integer(data, "stack_bytes", minimum=256)
    if stack_bytes % 8:
        raise fail("stack_bytes", f"must be a multiple of 8 (AAPCS stack alignment), got {stack_bytes}")
    if stack_bytes >= regions["ram"].size:
        raise fail("stack_bytes", f"({stack_bytes}) must be smaller than memory.ram.size ({regions['ram'].size})")

    machine = field(data, "qemu_machine")
    if machine is not None and (not isinstance(machine, str) or not machine.strip()):
        raise fail("qemu_machine", f"must be a QEMU machine name or null, got {machine!r}")

    console_data = mapping_of(field(data, "console"), "console", ("kind", "base", "qemu_serial"))
    kind = string(console_data, "kind", "console.")
    if kind not in CONSOLE_KINDS:
        raise fail("console.kind", f"must be one of {', '.join(CONSOLE_KINDS)}, got {kind!r}")
    base = qemu_serial = None
    if kind == "usart":
        base = integer(console_data, "base", "console.")
    for key in ("base", "qemu_serial"):
        if kind != "usart" and key in console_data:
            raise fail(f"console.{key}", "only applies to console kind 'usart'")
    if "qemu_serial" in console_data:
        if machine is None:
            raise fail("console.qemu_serial", "needs a qemu_machine")
        qemu_serial = integer(console_data, "qemu_serial", "console.")
        if qemu_serial > 3:
            raise fail("console.qemu_serial", f"must be a QEMU serial port 0-3, got {qemu_serial}")

    flash_targets = None
    targets_data = field(data, "flash_targets")
    if targets_data is not None:
        targets_data = mapping_of(targets_data, "flash_targets", ("pyocd", "openocd"))
        openocd = field(targets_data, "openocd", "flash_targets.")
        if not isinstance(openocd, list) or not openocd or not all(isinstance(a, str) and a for a in openocd):
            raise fail("flash_targets.openocd", f"must be a non-empty list of OpenOCD arguments, got {openocd!r}")
        flash_targets = FlashTargets(pyocd=string(targets_data, "pyocd", "flash_targets."), openocd=tuple(openocd))

    return Board(
        name=name,
        description=string(data, "description"),
        cpu=cpu,
        arch_flags=tuple(flags),
        has_dsp=boolean(data, "has_dsp"),
        has_fpu=boolean(data, "has_fpu"),
        has_mve=boolean(data, "has_mve"),
        flash=regions["flash"],
        ram=regions["ram"],
        stack_bytes=stack_bytes,
        qemu_machine=machine,
        console=Console(kind=kind, base=base, qemu_serial=qemu_serial),
        flash_targets=flash_targets,
        source=path,
    )
