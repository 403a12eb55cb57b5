"""Fit ``pqk_mcu.codegen.cost_model.KERNEL_COSTS`` to instruction counts measured under QEMU.

Each kernel is fitted on the board whose core it is for (``*_dsp``: cortex-m4, ``*_mve``: cortex-m55,
the others: cortex-m3), by non-negative least squares on relative error, over the counts of
``cost_model.COUNTS`` of each layer (``cost_model.layer_counts`` of the weights and layout that the
lowering records in ``Layer.cost_shape``). It prints
the table to paste into cost_model.py with the worst relative error per kernel.
Measurements: the per-layer counts of the committed `make bench` results (zoo.json: the model zoo at
0-95% sparsity on five cores; results.json: the DS-CNN, also forced dense) and fresh runs of each
weight format forced on small graphs of other shapes (small layers: per-call costs); with ``--run``
also on the DS-CNN and the fixtures (slow).
Run: .venv/bin/python benchmarks/perf/calibrate.py [--run]
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dscnn import dscnn_graph  # noqa: E402
from zoo import zoo_graph  # noqa: E402

from pqk_mcu.pipeline.bench import bench_graph  # noqa: E402
from pqk_mcu.codegen.cost_model import COUNTS, KERNEL_COSTS, Target, layer_counts  # noqa: E402
from pqk_mcu.codegen.lower import lower_graph  # noqa: E402
from pqk_mcu.frontends.tflite import load_tflite  # noqa: E402
from pqk_mcu.ir.builder import GraphBuilder  # noqa: E402
from pqk_mcu.codegen import core_graph  # noqa: E402

FIXTURES = HERE.parents[1] / "tests" / "fixtures"


def _small_graph(sparsity: float, seed: int):
    """Other shapes than the DS-CNN: channels 8-32, 3x3 and 1x1 convolutions, strides 1 and 2, small layers."""
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
    x = b.depthwise_conv2d(x, weights((1, 3, 3, 16)), 0.004, None, 0.05, -128, activation="RELU")
    x = b.reshape(x, (1, -1))
    return b.build(outputs=[b.fully_connected(x, weights((10, b.shape(x)[1])), 0.002, None, 0.1, 0)])


def _few_channel_graph(sparsity: float, seed: int):
    """Convolutions over few input channels with large filters (pqk_conv2d_s8_csr_taps_dsp's layers): the
    micro_speech layer (10x8 stride 2 over one channel), then 5x5 and 3x3 stride 2 over three channels."""
    rng = np.random.default_rng(seed)

    def weights(shape):
        w = rng.integers(-127, 128, size=shape).astype(np.int8)
        w[rng.random(shape) < sparsity] = 0
        return w

    b = GraphBuilder()
    x = b.input((1, 49, 40, 1), scale=0.1, zero_point=0)
    x = b.conv2d(x, weights((8, 10, 8, 1)), 0.002, None, 0.05, -128, stride=2, padding="SAME", activation="RELU")
    x = b.conv2d(x, weights((3, 1, 1, 8)), 0.003, None, 0.05, -128, activation="RELU")
    x = b.conv2d(x, weights((12, 5, 5, 3)), 0.002, None, 0.05, -128, padding="SAME", activation="RELU")
    x = b.conv2d(x, weights((3, 1, 1, 12)), 0.003, None, 0.05, -128, activation="RELU")
    return b.build(outputs=[b.conv2d(x, weights((16, 3, 3, 3)), 0.002, None, 0.05, -128, stride=2, padding="SAME",
                                     activation="RELU")])


def fit_board(kernel: str) -> str:
    return "cortex-m4" if kernel.endswith("_dsp") else "cortex-m55" if kernel.endswith("_mve") else "cortex-m3"


def _rows(graph, board: str, weight_format: str, measured: list[dict]) -> list[tuple[str, dict, int]]:
    """(kernel, counts, measured instructions) of the weighted layers whose kernel is fitted on ``board``."""
    layers, _ = lower_graph(core_graph(graph), weight_format, Target.from_board(board))
    rows = []
    for layer, result in zip(layers, measured):
        kernel = result["kernel"]
        if layer.cost_shape is not None and kernel in KERNEL_COSTS and fit_board(kernel) == board:
            cost = KERNEL_COSTS[kernel]
            counts = layer_counts(*layer.cost_shape, result["format"] == "csr", cost.block, cost.lanes)
            rows.append((kernel, counts, result["instructions"]))
    return rows


def committed_measurements():
    rows = []
    for run in json.loads((HERE / "zoo.json").read_text())["runs"]:
        rows += _rows(zoo_graph(run["model"], run["sparsity"]), run["board"], run["format"], run["layers"])
    dscnn = json.loads((HERE / "results.json").read_text())
    for run in dscnn["runs"]:
        rows += _rows(dscnn_graph(run["sparsity"], seed=dscnn["seed"]), run["board"], run["format"], run["layers"])
    return rows


def fresh_measurements(graphs):
    rows = []
    for board in ("cortex-m4", "cortex-m3", "cortex-m55"):
        for name, graph in graphs:
            for weight_format in ("dense", "csr"):
                result = bench_graph(graph, board, weight_format, model_name=name)
                assert result.bit_exact, (name, board, weight_format)
                rows += _rows(graph, board, weight_format, result.layers)
                print(f"{name} {board} {weight_format}: {result.instructions:,}", file=sys.stderr, flush=True)
    return rows


def small_graphs():
    return ([(f"small-{s}", _small_graph(s, 1)) for s in (0.0, 0.6, 0.9, 1.0)]  # 1.0: rows without nonzeros
            + [(f"few-channel-{s}", _few_channel_graph(s, 2)) for s in (0.8, 0.9, 0.95)])


def more_graphs():
    return ([(f"dscnn-{s}", dscnn_graph(s)) for s in (0.0, 0.5, 0.8, 0.9, 0.95)]
            + [(path.stem, load_tflite(path)) for path in sorted(FIXTURES.glob("*.tflite"))])


def fit(rows):
    by_kernel = defaultdict(dict)
    for kernel, counts, instructions in rows:  # identical layers measured twice count once
        by_kernel[kernel][tuple(counts[name] for name in COUNTS)] = instructions
    for kernel in sorted(by_kernel):
        features = np.array(list(by_kernel[kernel]), dtype=float)
        target = np.array(list(by_kernel[kernel].values()), dtype=float)
        weights = 1.0 / target  # relative error
        coefficients, _ = nnls(features * weights[:, None], target * weights)
        estimate = features @ coefficients
        worst = np.max(np.abs(estimate - target) / target)
        terms = [f"per_{name}={round(float(c), 2)}" for index, (name, c) in enumerate(zip(COUNTS, coefficients))
                 if index < 6 or round(float(c), 2)]
        terms += [f"{name}={getattr(KERNEL_COSTS[kernel], name)}" for name in ("block", "lanes")
                  if getattr(KERNEL_COSTS[kernel], name) != 1]
        lines = textwrap.wrap(", ".join(terms) + "),", width=112, initial_indent=" " * 8, subsequent_indent=" " * 8)
        print(f'    "{kernel}": KernelCost(  # worst error {worst:.0%}, n={len(target)}', *lines, sep="\n")


if __name__ == "__main__":
    graphs = small_graphs() + (more_graphs() if sys.argv[1:] == ["--run"] else [])
    fit(committed_measurements() + fresh_measurements(graphs))
