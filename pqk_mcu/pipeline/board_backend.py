"""Verify backends for emulated boards: ``pqk-mcu verify MODEL --board cortex-m4``.

For each (model, board) the generated C is built into harness firmware once per process; every
input then runs in its own QEMU process, with each op's output traced over semihosting so a
mismatch can be shown layer by layer.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from pqk_mcu.boards import Board, board_names, emulated_board_names, is_board_file, load_board
from pqk_mcu.codegen import generate_c
from pqk_mcu.errors import PqkError
from pqk_mcu.ir.graph import Graph
from pqk_mcu.pipeline.core_io import CoreIO
from pqk_mcu.runner.arm import build_firmware
from pqk_mcu.runner.qemu import run_firmware
from pqk_mcu.verify import Backend


@dataclass(frozen=True)
class _Firmware:
    workdir: tempfile.TemporaryDirectory
    elf: Path
    io: CoreIO


_BUILT: dict[tuple[str, Board], _Firmware] = {}


def board_firmware(graph: Graph, board: str | Board) -> _Firmware:
    """Generate, build (once per graph fingerprint and board) and return the harness firmware."""
    board = board if isinstance(board, Board) else load_board(board)
    key = (graph.fingerprint(), board)
    if key not in _BUILT:
        workdir = tempfile.TemporaryDirectory(prefix=f"pqk-{board.name}-")
        root = Path(workdir.name)
        generated = generate_c(graph, root / "gen", board=board)
        build = build_firmware(root / "gen", board, app="harness", out_dir=root / "build",
                               runtime_sources=generated.runtime_sources)
        _BUILT[key] = _Firmware(workdir, build.elf, CoreIO.of(graph, generated))
    return _BUILT[key]


def board_backend(name: str) -> Backend | None:
    """The backend of a board name or board file (``None`` for other names); refuses boards QEMU cannot run."""
    if name not in board_names() and not is_board_file(name):
        return None
    board = load_board(name)
    if not board.emulated:
        raise PqkError(f"board {board.name} is not emulated by QEMU; verify runs on "
                       f"{', '.join(emulated_board_names())} or a board file with a qemu_machine")

    def run(graph: Graph, model_bytes: bytes, inputs: Sequence[np.ndarray]) -> dict:
        firmware = board_firmware(graph, board)
        core_inputs = firmware.io.core_inputs(inputs)
        result = run_firmware(firmware.elf, board, firmware.io.pack(core_inputs), trace=True)
        return firmware.io.result(core_inputs, result.output, result.trace)

    return run
