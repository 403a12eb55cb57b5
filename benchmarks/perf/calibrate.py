"""Fit ``pqk_mcu.codegen.cost_model.KERNEL_COSTS`` to instruction counts measured under QEMU.

Runs ``pqk_mcu.bench`` with every weight format forced on the DS-CNN at several sparsities, on
small graphs of other shapes and on the model zoo of tests/fixtures, on cortex-m4 (DSP variants) and cortex-m3 (portable kernels), then
fits per kernel, by non-negative least squares on relative error, the terms of
``cost_model.KernelCost``
and prints the table to paste into cost_model.py with the worst relative error per kernel.
Run: .venv/bin/python benchmarks/perf/calibrate.py
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dscnn import dscnn_graph  # noqa: E402

from pqk_mcu.bench import bench_graph  # noqa: E402
from pqk_mcu.codegen.cost_model import KERNEL_COSTS  # noqa: E402
from pqk_mcu.frontends.tflite import load_tflite  # noqa: E402
from pqk_mcu.ir.builder import GraphBuilder  # noqa: E402

FIXTURES = HERE.parents[1] / "tests" / "fixtures"


def _small_graph(sparsity: float, seed: int):
    """Other shapes than the DS-CNN: channels 8-32, 3x3 and 1x1 convolutions, strides 1 and 2."""
    rng = np.random.default_rng(seed)

    def weights(shape):
        w = rng.integers(-127, 128, size=shape).astype(np.int8)
        w[rng.random(shape) < sparsity] = 0
        return w

    b = GraphBuilder()
    x = b.input((1, 16, 12, 8), scale=0.1, zero_point=0)
    x = b.conv2d(x, weights((24, 3, 3, 8)), 0.002, None, 0.05, -128, stride=2, activation="RELU")
    x = b.depthwise_conv2d(x, weights((1, 3, 3, 24)), 0.004, None, 0.05, -128, activation="RELU")
    x = b.conv2d(x, weights((32, 1, 1, 24)), 0.003, None, 0.05, -128, activation="RELU")
    x = b.depthwise_conv2d(x, weights((1, 5, 5, 32)), 0.002, None, 0.05, -128, stride=2, activation="RELU")
    x = b.conv2d(x, weights((16, 1, 1, 32)), 0.003, None, 0.05, -128, activation="RELU")
    x = b.reshape(x, (1, -1))
    return b.build(outputs=[b.fully_connected(x, weights((10, b.shape(x)[1])), 0.002, None, 0.1, 0)])


def measurements():
    graphs = [(f"dscnn-{s}", dscnn_graph(s)) for s in (0.0, 0.5, 0.8, 0.9, 0.95)]
    graphs += [(f"small-{s}", _small_graph(s, 1)) for s in (0.0, 0.6, 0.9)]
    graphs += [(path.stem, load_tflite(path)) for path in sorted(FIXTURES.glob("*.tflite"))]
    rows = []
    for board in ("cortex-m4", "cortex-m3"):
        for name, graph in graphs:
            for weight_format in ("dense", "csr"):
                result = bench_graph(graph, board, weight_format, model_name=name)
                assert result.bit_exact, (name, board, weight_format)
                for layer, op in zip(result.layers, _weighted_shapes(graph)):
                    if layer["estimated_instructions"] and op is not None:
                        rows.append((layer["kernel"], layer, op))
                print(f"{name} {board} {weight_format}: {result.instructions:,}", flush=True)
    return rows


def _weighted_shapes(graph):
    """Per op: (stored weights per row, rows, positions) for weighted ops, else None."""
    from pqk_mcu.ir.passes import run_pipeline

    core = run_pipeline(graph)
    shapes = []
    for op in core.ops:
        if op.kind not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            shapes.append(None)
            continue
        w = core.tensor(op.inputs[1]).data
        out = core.tensor(op.outputs[0])
        rows = w.shape[-1] if op.kind == "DEPTHWISE_CONV_2D" else w.shape[0]
        positions = out.size // rows
        taps = w.shape[1] * w.shape[2] if op.kind != "FULLY_CONNECTED" else 1
        columns = w.size // rows
        shapes.append((w, rows, positions, columns, taps))
    return shapes


def fit(rows):
    by_kernel = defaultdict(list)
    for kernel, layer, (w, rows_, positions, columns, taps) in rows:
        stored = np.count_nonzero(w) if "csr" in kernel else w.size
        block = KERNEL_COSTS[kernel].block if kernel in KERNEL_COSTS else 1
        positions = -(-positions // block) * block  # kernels that compute whole blocks of pixels
        features = [stored * positions, rows_ * positions, taps * rows_ * positions, columns * positions, positions, 1.0,
                    taps * positions]
        by_kernel[kernel].append((features, layer["instructions"]))
    for kernel in sorted(by_kernel):
        features = np.array([f for f, _ in by_kernel[kernel]], dtype=float)
        target = np.array([t for _, t in by_kernel[kernel]], dtype=float)
        weights = 1.0 / target  # relative error
        coefficients, _ = nnls(features * weights[:, None], target * weights)
        estimate = features @ coefficients
        worst = np.max(np.abs(estimate - target) / target)
        names = ("per_mac", "per_output", "per_tap_output", "per_column", "per_position", "per_call", "per_tap_position")
        terms = ", ".join(f"{name}={round(float(c), 2)}" for name, c in zip(names, coefficients))
        print(f'    "{kernel}": KernelCost({terms}),  # worst error {worst:.0%}, n={len(target)}')


if __name__ == "__main__":
    fit(measurements())
