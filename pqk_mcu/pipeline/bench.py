"""``pqk-mcu bench``: instructions, flash and RAM of one model on one emulated board.

The model is generated for the board (kernel variants the board supports, chosen per layer by
``pqk_mcu.codegen.cost_model``), built with the harness app and run under QEMU with the project's
instruction-count plugin (``pqk_mcu.runner.qemu.count_instructions``): the count from
``pqk_bench_begin`` to ``pqk_bench_end`` is one inference, and the op hooks split it per layer.
The plugin also sorts the instructions into classes (loads, stores, multiplies, branches, ...) and
estimates Cortex-M4 cycles from them (README "Cycle estimate"), in total and per layer.
Counts are deterministic (one vCPU, no interrupts), so two runs give the same numbers. Flash comes
from the linker map (``pqk_mcu.runner.arm.size_report``), the peak stack from the painted stack,
the arena from the memory plan. The output of the same run is compared with the numpy reference,
so a benchmark of a wrong kernel cannot pass unnoticed.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pqk_mcu.atomic import atomic_file
from pqk_mcu.boards import Board, load_board
from pqk_mcu.errors import PqkError
from pqk_mcu.ir.graph import Graph

FLASH_KEYS = ("kernels", "weights", "indices", "requant", "tables", "model", "platform")
INPUT_SEED = 0


@dataclass(frozen=True)
class BenchResult:
    """Everything ``pqk-mcu bench`` reports; ``to_json`` is the documented JSON."""

    model: str
    board: str
    weight_format: str
    instructions: int
    estimated_m4_cycles: int
    taken_branches: int
    instruction_classes: dict[str, int]
    arena_bytes: int
    stack_bytes: int
    flash_bytes: dict[str, int]
    layers: tuple[dict, ...]
    macs: int
    bit_exact: bool

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "board": self.board,
            "format": self.weight_format,
            "instructions": self.instructions,
            "macs": self.macs,
            "instructions_per_mac": round(self.instructions / self.macs, 4) if self.macs else None,
            "estimated_m4_cycles": self.estimated_m4_cycles,
            "taken_branches": self.taken_branches,
            "instruction_classes": dict(self.instruction_classes),
            "arena_bytes": self.arena_bytes,
            "stack_bytes": self.stack_bytes,
            "flash_bytes": dict(self.flash_bytes),
            "bit_exact": self.bit_exact,
            "layers": [dict(layer) for layer in self.layers],
        }


def bench_graph(graph: Graph, board: Board | str, weight_format: str = "auto", model_name: str = "model",
                work_dir: str | Path | None = None) -> BenchResult:
    """Generate, build and count ``graph`` on ``board`` (an emulated board)."""
    from pqk_mcu.codegen import generate_c
    from pqk_mcu.reference import run_reference
    from pqk_mcu.runner.arm import build_firmware
    from pqk_mcu.runner.qemu import count_instructions, run_elf

    board = board if isinstance(board, Board) else load_board(board)
    if not board.emulated:
        raise PqkError(f"board {board.name} is not emulated by QEMU; bench needs an emulated board")
    # On a terminal, a bar over the steps: building and the counting QEMU run take seconds each.
    with tempfile.TemporaryDirectory(prefix="pqk-bench-", dir=work_dir) as tmp, \
            tqdm(total=3, desc=f"bench on {board.name}", unit="step", leave=False, disable=None) as steps:
        work = Path(tmp)
        generated = generate_c(graph, work / "gen", weight_format=weight_format, board=board)
        build = build_firmware(work / "gen", board, app="harness", out_dir=work / "build",
                               runtime_sources=generated.runtime_sources)
        steps.update()
        core = generated.graph
        inputs = [_random_input(core.tensor(name), INPUT_SEED + i) for i, name in enumerate(core.inputs)]
        input_bytes = b"".join(np.ascontiguousarray(x).tobytes() for x in inputs)
        counts = count_instructions(build.elf, board, input_bytes)
        steps.update()
        output = run_elf(build.elf, board, input_bytes)
        steps.update()
    expected = b"".join(
        np.ascontiguousarray(y).tobytes() for y in run_reference(core, inputs)["outputs"]
    )
    if len(counts["per_op"]) != len(generated.layers):
        raise PqkError(f"counted {len(counts['per_op'])} ops but the model has {len(generated.layers)}")
    size = build.size
    flash = {key: size.category_flash(key) for key in FLASH_KEYS}
    flash["total"] = size.flash_bytes
    layers = tuple(
        {
            "index": layer.index, "name": layer.name, "op": layer.op, "kernel": layer.kernel,
            "format": layer.format, "sparsity": layer.sparsity, "macs": layer.macs,
            "instructions": int(count), "estimated_instructions": layer.estimated_instructions,
        } | profile
        for layer, count, profile in zip(generated.layers, counts["per_op"], counts["per_op_profile"])
    )
    return BenchResult(
        model=model_name, board=board.name, weight_format=weight_format, instructions=int(counts["total"]),
        **counts["profile"],
        arena_bytes=generated.arena_bytes, stack_bytes=int(counts["stack_bytes"]), flash_bytes=flash,
        layers=layers, macs=sum(layer.macs for layer in generated.layers if layer.format != "-"),
        bit_exact=output == expected,
    )


def bench_model(model: str | Path, board: Board | str, weight_format: str = "auto") -> BenchResult:
    """``pqk-mcu bench MODEL.tflite``."""
    from pqk_mcu.frontends.tflite import load_tflite

    return bench_graph(load_tflite(Path(model)), board, weight_format, model_name=Path(model).name)


def write_json(result: BenchResult, path: str | Path) -> None:
    with atomic_file(path) as tmp:
        Path(tmp).write_text(json.dumps(result.to_json(), indent=2) + "\n")


def render(result: BenchResult):
    """Rich renderables: the per-layer table and the totals table."""
    from rich.table import Table

    layers = Table(title=f"{result.model} on {result.board} (--format {result.weight_format})")
    for column, justify in (("#", "right"), ("op", "left"), ("kernel", "left"), ("format", "left"),
                            ("sparsity", "right"), ("MACs", "right"), ("instructions", "right"),
                            ("insn/MAC", "right"), ("estimate", "right"), ("est. M4 cycles", "right")):
        layers.add_column(column, justify=justify)
    for layer in result.layers:
        weighted = layer["format"] != "-"
        layers.add_row(
            str(layer["index"]), layer["op"], layer["kernel"] or "(alias)", layer["format"],
            f"{layer['sparsity']:.1%}" if weighted else "", f"{layer['macs']:,}" if layer["macs"] else "",
            f"{layer['instructions']:,}",
            f"{layer['instructions'] / layer['macs']:.2f}" if layer["macs"] else "",
            f"{layer['estimated_instructions']:,}" if layer["estimated_instructions"] else "",
            f"{layer['estimated_m4_cycles']:,}",
        )
    totals = Table(title="totals", show_header=False)
    totals.add_column("what")
    totals.add_column("value", justify="right")
    totals.add_row("instructions / inference", f"{result.instructions:,}")
    if result.macs:
        totals.add_row("instructions / MAC", f"{result.instructions / result.macs:.3f}")
    totals.add_row("estimated Cortex-M4 cycles", f"{result.estimated_m4_cycles:,}")
    totals.add_row("taken branches", f"{result.taken_branches:,}")
    totals.add_row("arena (RAM)", f"{result.arena_bytes:,} B")
    totals.add_row("peak stack (painted)", f"{result.stack_bytes:,} B")
    for key in ("kernels", "weights", "indices", "requant", "tables", "model", "platform", "total"):
        totals.add_row(f"flash {key}", f"{result.flash_bytes[key]:,} B")
    totals.add_row("output bit-exact with reference", "yes" if result.bit_exact else "NO")
    return layers, totals


__all__ = ["BenchResult", "bench_graph", "bench_model", "render", "write_json"]


def _random_input(tensor, seed: int) -> np.ndarray:
    """Uniform over the tensor's integer type (int8; int16 or int32 in 16x8 models)."""
    limits = np.iinfo(tensor.dtype)
    return np.random.default_rng(seed).integers(limits.min, limits.max + 1, size=tensor.shape, dtype=tensor.dtype)
