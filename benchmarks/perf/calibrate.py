"""Fit ``pqk_mcu.codegen.cost_model.KERNEL_COSTS`` to instruction counts measured under QEMU.

Each kernel is fitted on the board whose core it is for (``*_dsp``: cortex-m4, ``*_mve``: cortex-m55,
the others: cortex-m3), by non-negative least squares on relative error, over the counts of
``cost_model.COUNTS`` of each layer (``cost_model.layer_counts`` of the weights and layout that the
lowering records in ``Layer.cost_shape``); then on each other core measured its ``core_costs``, the
instructions per call and per mac that core's compiled code adds (least squares on relative error). It prints
the table to paste into cost_model.py with the worst relative error per kernel (on its fit board).
Measurements: the per-layer counts of the committed `make bench` results (zoo.json: the model zoo at
0-95% sparsity on five cores; results.json: the DS-CNN, also forced dense) and fresh runs of each
weight format forced on small graphs of other shapes (small layers: per-call costs); with ``--run``
also on the DS-CNN and the fixtures (slow).
Run: .venv/bin/python benchmarks/perf/calibrate.py [--run] [--zoo PATH]
``--report`` fits nothing: it lists every zoo.json layer whose current estimate (on the core it ran on)
is more than 5% off its count, by kernel, with the layer's counts. ``--zoo``: another zoo.json (a fresh
`make bench`'s) than the committed one.
"""

from __future__ import annotations

import argparse
import dataclasses
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

from pqk_mcu.boards import load_board  # noqa: E402
from pqk_mcu.pipeline.bench import bench_graph  # noqa: E402
from pqk_mcu.codegen.cost_model import COUNTS, KERNEL_COSTS, KernelCost, Target, layer_counts  # noqa: E402
from pqk_mcu.codegen.lower import lower_graph  # noqa: E402
from pqk_mcu.frontends.tflite import load_tflite  # noqa: E402
from pqk_mcu.ir.builder import GraphBuilder  # noqa: E402
from pqk_mcu.codegen import core_graph  # noqa: E402
from pqk_mcu.errors import PqkError  # noqa: E402

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


def _fully_connected_graph(widths: list[int], seed: int, batches: int = 1, per_channel: bool = False,
                           activation: str = "RELU", zero_point: int = -128, outside_fast_bounds: bool = False):
    """A chain of FULLY_CONNECTED layers ``widths[i]`` -> ``widths[i + 1]`` (pqk_fully_connected_s8_dsp's
    row quads: few and many rows and columns, partial quads and groups); every second layer without
    activation; ``outside_fast_bounds``: per channel, each layer's second channel with a scale that
    pqk_dsp.h's fast requantization cannot take (requant.checked)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input((batches, widths[0]), scale=0.1, zero_point=0)
    for index, (columns, rows) in enumerate(zip(widths, widths[1:])):
        weights = rng.integers(-127, 128, size=(rows, columns)).astype(np.int8)
        scale = list(rng.uniform(0.001, 0.004, rows)) if per_channel or outside_fast_bounds else 0.002
        if outside_fast_bounds and rows > 1:
            scale[1] = 1e-9
        plain = index % 2 == 1
        x = b.fully_connected(x, weights, scale, None, 0.0125 * np.sqrt(columns), 3 if plain else zero_point,
                              activation="NONE" if plain else activation)
    return b.build(outputs=[x])


def fit_board(kernel: str) -> str:
    return "cortex-m4" if kernel.endswith("_dsp") else "cortex-m55" if kernel.endswith("_mve") else "cortex-m3"


def fit_cpu(kernel: str) -> str:
    """The core of ``kernel``'s fit board: its estimate without ``core_costs``."""
    return load_board(fit_board(kernel)).cpu


def _rows(graph, board: str, weight_format: str, measured: list[dict]) -> list[tuple[str, dict, int, str, str]]:
    """(kernel, counts, measured instructions, layer name, cpu) of the weighted layers."""
    target = Target.from_board(board)
    layers, _ = lower_graph(core_graph(graph), weight_format, target)
    rows = []
    for layer, result in zip(layers, measured):
        kernel = result["kernel"]
        if layer.cost_shape is not None and kernel in KERNEL_COSTS:
            cost = KERNEL_COSTS[kernel]
            counts = layer_counts(*layer.cost_shape, result["format"] == "csr", cost.block, cost.lanes)
            rows.append((kernel, counts, result["instructions"], result["name"], target.cpu))
    return rows


def zoo_measurements(zoo: Path = HERE / "zoo.json"):
    """The rows of ``zoo``'s runs, the layer names prefixed with model, sparsity and board."""
    rows = []
    for run in json.loads(zoo.read_text())["runs"]:
        where = f'{run["model"]} {run["sparsity"]} {run["board"]}'
        rows += [(kernel, counts, instructions, f"{where} {name}", cpu) for kernel, counts, instructions, name, cpu
                 in _rows(zoo_graph(run["model"], run["sparsity"]), run["board"], run["format"], run["layers"])]
    return rows


def committed_measurements(zoo: Path = HERE / "zoo.json"):
    rows = zoo_measurements(zoo)
    dscnn = json.loads((HERE / "results.json").read_text())
    for run in dscnn["runs"]:
        rows += _rows(dscnn_graph(run["sparsity"], seed=dscnn["seed"]), run["board"], run["format"], run["layers"])
    return rows


def fresh_measurements(graphs):
    rows = []
    for board in ("cortex-m4", "cortex-m3", "cortex-m55"):
        for name, graph in graphs:
            for weight_format in ("dense", "csr"):
                try:
                    result = bench_graph(graph, board, weight_format, model_name=name)
                except PqkError as error:  # --run: person_detect's and AD toycar's CSR beyond cortex-m55's flash
                    print(f"{name} {board} {weight_format}: skipped ({error})", file=sys.stderr, flush=True)
                    continue
                assert result.bit_exact, (name, board, weight_format)
                rows += _rows(graph, board, weight_format, result.layers)
                print(f"{name} {board} {weight_format}: {result.instructions:,}", file=sys.stderr, flush=True)
    return rows


def small_graphs():
    return ([(f"small-{s}", _small_graph(s, 1)) for s in (0.0, 0.6, 0.9, 1.0)]  # 1.0: rows without nonzeros
            + [(f"few-channel-{s}", _few_channel_graph(s, 2)) for s in (0.8, 0.9, 0.95)]
            + [("fc-a", _fully_connected_graph([37, 5, 130, 3, 9, 64, 12, 1, 20], 0)),
               ("fc-b", _fully_connected_graph([50, 7, 256, 2, 33, 17, 6, 300, 10], 1, per_channel=True)),
               ("fc-c", _fully_connected_graph([24, 11, 96, 8, 13, 40], 2, batches=3)),
               ("fc-d", _fully_connected_graph([200, 4, 64, 1, 128, 16, 5, 8], 3, activation="RELU6", zero_point=-5)),
               ("fc-e", _fully_connected_graph([45, 21, 70, 6], 4, outside_fast_bounds=True)),
               ("fc-f", _fully_connected_graph([16, 128, 8, 128, 16, 640, 4, 32, 2], 5)),
               ("fc-g", _fully_connected_graph([63, 29, 130, 10, 7, 66], 6, batches=2, per_channel=True)),
               ("fc-h", _fully_connected_graph([128, 8, 16, 12, 64, 4, 20], 7))])


def more_graphs():
    return ([(f"dscnn-{s}", dscnn_graph(s)) for s in (0.0, 0.5, 0.8, 0.9, 0.95)]
            + [(path.stem, load_tflite(path)) for path in sorted(FIXTURES.glob("*.tflite"))])


# Kernels whose loops the counts follow one by one: fitted on those counts only (over all of them the
# fit takes terms that match the zoo's few shapes of these kernels and miss others).
KERNEL_TERMS = {
    "pqk_fully_connected_s8_dsp": ("call", "position", "output", "quad_group", "direct_group", "widened_group",
                                   "direct_tail", "partial_quad", "channel_output", "general_output",
                                   "checked_output"),
    "pqk_fully_connected_s8_narrow_dsp": ("call", "position", "output", "column", "narrow_pair",
                                          "narrow_eight_output", "narrow_quad", "narrow_quad_group"),
    "pqk_fully_connected_s8_mve": ("call", "position", "output", "pass_chunk", "copied_column", "tail_output",
                                   "unclamped_output", "channel_output"),
    "pqk_conv2d_s8_csr_taps_dsp": ("call", "row", "output", "row_block", "row_block_mac", "row_block_output",
                                   "patch_row", "patch_byte"),
    "pqk_conv2d_s8_csr_taps_mve": ("call", "position", "output", "chunk", "empty_output", "unclamped_output",
                                   "partial_channel_group", "tapped_line", "band_row", "band_byte"),
    "pqk_depthwise_conv2d_s8_csr_dsp": ("call", "padded_call", "tapped_channel", "single_channel", "multi_output",
                                        "constant_group", "fill_eight", "fill_rest", "tap_run", "unit_tap_output",
                                        "strided_tap_output", "copy_row", "copy_byte", "looped_output",
                                        "multi_mac", "order_tap"),
    "pqk_conv2d_s8_csr_wide_smlal": ("call", "position", "output", "column", "im2col_byte", "chunk", "empty_output",
                                     "border_tap", "border_byte", "general_mac", "tap_output", "mac"),
}


# A core's own terms (KernelCost.core_costs), each within its limit: a prologue's and epilogue's worth per
# call, two instructions per mac; larger ones come from loops that the core's compiler builds otherwise.
CORE_TERMS = {"call": 50.0, "mac": 2.0}


def core_costs(cost: KernelCost, rows, fitted_cpu: str) -> tuple[tuple[str, str, float], ...]:
    """``KernelCost.core_costs`` of ``cost`` from its ``rows`` (one kernel's) on the cores other than
    ``fitted_cpu``: per core the terms of ``CORE_TERMS`` (call alone, or call and mac) that minimize the
    relative errors of its layers' estimates (identical layers measured twice count once), where they lower
    the largest relative error by more than a percentage point (mac: more than call alone) and stay within
    their limits."""
    by_core = defaultdict(dict)
    for _, counts, instructions, _, cpu in rows:
        if cpu != fitted_cpu:
            by_core[cpu][tuple(counts[name] for name in COUNTS)] = (counts, cost.instructions(counts), instructions)
    terms = []
    for cpu in sorted(by_core):
        layers = list(by_core[cpu].values())
        estimates = np.array([estimate for _, estimate, _ in layers])
        measured = np.array([instructions for _, _, instructions in layers], dtype=float)
        best, worst = (), np.max(np.abs(estimates - measured) / measured) - 0.01
        for names in (("call",), ("call", "mac")):
            features = np.array([[counts[name] for name in names] for counts, _, _ in layers], dtype=float)
            values, *_ = np.linalg.lstsq(features / measured[:, None], (measured - estimates) / measured, rcond=None)
            values = np.round(values, 2)
            error = np.max(np.abs(estimates + features @ values - measured) / measured)
            if error < worst and all(abs(v) <= CORE_TERMS[name] for name, v in zip(names, values)):
                best, worst = tuple((cpu, name, float(v)) for name, v in zip(names, values) if v), error - 0.01
        terms += best
    return tuple(terms)


def fit(rows):
    by_kernel = defaultdict(dict)
    for kernel, counts, instructions, _, cpu in rows:  # identical layers measured twice count once
        if cpu == fit_cpu(kernel):
            by_kernel[kernel][tuple(counts[name] for name in COUNTS)] = instructions
    for kernel in sorted(by_kernel):
        features = np.array(list(by_kernel[kernel]), dtype=float)
        target = np.array(list(by_kernel[kernel].values()), dtype=float)
        weights = 1.0 / target  # relative error
        # terms that no measured layer counts (e.g. empty rows, which eliminate_dead_channels removes from
        # the zoo) keep their current value
        unseen = ~features.any(axis=0)
        used = np.array([name in KERNEL_TERMS.get(kernel, COUNTS) for name in COUNTS]) & ~unseen
        coefficients = np.array([getattr(KERNEL_COSTS[kernel], f"per_{name}") if absent else 0.0
                                 for name, absent in zip(COUNTS, unseen)])
        coefficients[used], _ = nnls(features[:, used] * weights[:, None], target * weights)
        estimate = features @ coefficients
        worst = np.max(np.abs(estimate - target) / target)
        terms = [f"per_{name}={round(float(c), 2)}" for index, (name, c) in enumerate(zip(COUNTS, coefficients))
                 if index < 6 or round(float(c), 2)]
        terms += [f"{name}={getattr(KERNEL_COSTS[kernel], name)}" for name in ("block", "lanes")
                  if getattr(KERNEL_COSTS[kernel], name) != 1]
        fitted = dataclasses.replace(KERNEL_COSTS[kernel], core_costs=(), **{
            f"per_{name}": float(c) for name, c in zip(COUNTS, coefficients)})
        own = core_costs(fitted, [row for row in rows if row[0] == kernel], fit_cpu(kernel))
        if own:
            terms.append(f"core_costs={own}")
        lines = textwrap.wrap(", ".join(terms) + "),", width=112, initial_indent=" " * 8, subsequent_indent=" " * 8)
        print(f'    "{kernel}": KernelCost(  # worst error {worst:.0%}, n={len(target)}', *lines, sep="\n")


def report(rows, tolerance: float = 0.05):
    """Every layer whose estimate (the current KERNEL_COSTS) is more than ``tolerance`` off its count,
    grouped by kernel, with its nonzero counts."""
    misses = defaultdict(list)
    totals = defaultdict(int)
    worst = defaultdict(float)
    for kernel, counts, instructions, where, cpu in rows:
        totals[kernel] += 1
        estimate = KERNEL_COSTS[kernel].instructions(counts, cpu)
        error = estimate / instructions - 1
        worst[kernel] = max(worst[kernel], error, key=abs)
        if abs(error) > tolerance:
            misses[kernel].append((error, where, instructions, estimate, counts))
    for kernel in sorted(totals):
        print(f"{kernel}: {len(misses[kernel])} of {totals[kernel]} layers more than {tolerance:.0%} off "
              f"(worst {worst[kernel]:+.1%})")
        for error, where, instructions, estimate, counts in sorted(misses[kernel], key=lambda miss: -abs(miss[0])):
            nonzero = " ".join(f"{name}={value}" for name, value in counts.items() if value)
            print(f"  {error:+.1%} {where}: measured {instructions:,} estimated {estimate:,.0f}\n      {nonzero}")
    print(f"total: {sum(map(len, misses.values()))} of {sum(totals.values())} layers more than {tolerance:.0%} off")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="also measure the DS-CNN and the fixtures (slow)")
    parser.add_argument("--report", action="store_true", help="fit nothing: list the layers more than 5%% off")
    parser.add_argument("--zoo", type=Path, default=HERE / "zoo.json", help="the zoo.json to read (default: %(default)s)")
    args = parser.parse_args()
    if args.report:
        report(zoo_measurements(args.zoo))
    else:
        graphs = small_graphs() + (more_graphs() if args.run else [])
        fit(committed_measurements(args.zoo) + fresh_measurements(graphs))


if __name__ == "__main__":
    main()
