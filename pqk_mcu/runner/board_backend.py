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

from pqk_mcu.boards import board_names, emulated_board_names, load_board
from pqk_mcu.errors import PqkError
from pqk_mcu.ir.graph import Graph
from pqk_mcu.runner.arm import build_firmware
from pqk_mcu.runner.core_io import CoreIO
from pqk_mcu.runner.qemu import run_firmware
from pqk_mcu.verify.backends import register_resolver


@dataclass(frozen=True)
class _Firmware:
    workdir: tempfile.TemporaryDirectory
    elf: Path
    io: CoreIO


_BUILT: dict[tuple[str, str], _Firmware] = {}


def board_firmware(graph: Graph, board: str) -> _Firmware:
    """Generate, build (once per graph fingerprint and board) and return the harness firmware."""
    from pqk_mcu.codegen import generate_c

    key = (graph.fingerprint(), board)
    if key not in _BUILT:
        workdir = tempfile.TemporaryDirectory(prefix=f"pqk-{board}-")
        root = Path(workdir.name)
        generated = generate_c(graph, root / "gen", board=board)
        build = build_firmware(root / "gen", board, app="harness", out_dir=root / "build",
                               runtime_sources=generated.runtime_sources)
        _BUILT[key] = _Firmware(workdir, build.elf, CoreIO.of(graph, generated))
    return _BUILT[key]


def _resolve(name: str):
    if name not in board_names():
        return None
    board = load_board(name)
    if not board.emulated:
        raise PqkError(f"board {name} is not emulated by QEMU; verify runs on {', '.join(emulated_board_names())}")

    def run(graph: Graph, model_bytes: bytes, inputs: Sequence[np.ndarray]) -> dict:
        firmware = board_firmware(graph, board.name)
        core_inputs = firmware.io.core_inputs(inputs)
        result = run_firmware(firmware.elf, board, firmware.io.pack(core_inputs), trace=True)
        return firmware.io.result(core_inputs, result.output, result.trace)

    return run


register_resolver(_resolve)
