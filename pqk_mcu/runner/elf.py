"""What an ELF file says about where it runs, checked against a board before QEMU or a probe gets it.

``check_firmware(elf, board)`` refuses a file that is not a 32-bit little-endian ARM ELF, whose
entry point or loaded bytes lie outside the board's flash (an image linked for another memory map),
or whose ``firmware.json`` (written beside it by ``pqk-mcu build``) names another board.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

from pqk_mcu.boards import Board
from pqk_mcu.errors import PqkError

EM_ARM = 40
PT_LOAD = 1
_HEADER = struct.Struct("<16sHHIIIIIHHHHHH")   # Elf32_Ehdr
_PROGRAM_HEADER = struct.Struct("<IIIIIIII")   # Elf32_Phdr
MACHINE_NAMES = {3: "x86", 8: "MIPS", 62: "x86-64", 183: "AArch64", 243: "RISC-V"}  # e_machine, for messages


@dataclass(frozen=True)
class ElfImage:
    machine: int
    entry: int
    loads: tuple[tuple[int, int], ...]  # (physical address, bytes in the file) of each loaded segment


def read_elf(path: str | Path) -> ElfImage:
    """The machine, entry point and loaded segments of a 32-bit little-endian ELF file."""
    path = Path(path)
    with open(path, "rb") as handle:
        header = handle.read(_HEADER.size)
        if len(header) < _HEADER.size or header[:4] != b"\x7fELF":
            raise PqkError(f"{path}: not an ELF file (firmware comes from `pqk-mcu build`)")
        ident, _, machine, _, entry, phoff, _, _, _, phentsize, phnum, *_ = _HEADER.unpack(header)
        if ident[4] != 1 or ident[5] != 1:
            raise PqkError(f"{path}: a 64-bit or big-endian ELF file, not Cortex-M firmware")
        handle.seek(phoff)
        table = handle.read(phentsize * phnum)
    if phentsize < _PROGRAM_HEADER.size or len(table) < phentsize * phnum:
        raise PqkError(f"{path}: truncated or malformed ELF file (program headers)")
    loads = []
    for index in range(phnum):
        kind, _, _, physical, file_bytes, *_ = _PROGRAM_HEADER.unpack_from(table, index * phentsize)
        if kind == PT_LOAD and file_bytes:
            loads.append((physical, file_bytes))
    return ElfImage(machine=machine, entry=entry, loads=tuple(loads))


def check_firmware(path: str | Path, board: Board) -> None:
    """Refuse firmware ``path`` unless it is ARM code linked into ``board``'s flash (and built for it)."""
    image = read_elf(path)
    if image.machine != EM_ARM:
        machine = MACHINE_NAMES.get(image.machine, f"machine {image.machine}")
        raise PqkError(f"{path}: an ELF file for {machine}, not ARM Cortex-M firmware")
    flash = board.flash
    for address, size in ((image.entry & ~1, 1), *image.loads):
        if not (flash.origin <= address and address + size <= flash.end):
            raise PqkError(f"{path}: linked at 0x{address:08x}, outside {board.name}'s flash "
                           f"0x{flash.origin:08x}-0x{flash.end - 1:08x}; build it for {board.name}")
    manifest = Path(path).with_name("firmware.json")
    try:
        built_for = json.loads(manifest.read_text()).get("board")
    except (OSError, ValueError, AttributeError):
        return  # no readable manifest: the addresses were all there is to check
    if built_for is not None and built_for != board.name:
        raise PqkError(f"{path} was built for {built_for} ({manifest.name}), not {board.name}")
