"""int8 ADD by table lookup (pqk_add_s8_lut) against the reference, which equals TFLite Micro.

TFLite's int8 ADD rescales each input on its own before the sum, so the rescaled value depends on the
int8 input alone; pqk_add_s8_lut looks it up in two compile-time tables and requantizes only the sum,
with pqk_dsp.h's fast form where its bounds hold and the exact form elsewhere. The tests check that
identity over all 65,536 input pairs in Python, then the C on the host (ASan/UBSan) and under QEMU
(cortex-m4 with the DSP instructions, cortex-m3 with the plain-C fallbacks) on random quantization,
odd element counts, broadcast shapes, activation clamps and extreme scales.
"""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.codegen.cost_model import choose_add_kernel, fast_requant_bounds_hold
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.quant import (
    activation_range,
    add_input_table,
    add_params,
    fast_requantize_array,
    multiply_by_quantized_multiplier_array,
)
from pqk_mcu.reference.elementwise import add as reference_add
from pqk_mcu.reference.registry import KernelCall

from op_checks import assert_bit_exact

ODD_COUNTS = (257, 129, 65, 7, 3, 1)  # largest first: the small ADDs then share its tables
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
# (input1 scale, input2 scale, output scale): ordinary, a 10^4 ratio between the inputs, an output
# shift of 0 and one below -23 (both outside the fast requantization's bounds: the exact path).
EXTREME_SCALES = ((0.05, 0.02, 0.06), (1e-4, 1.0, 0.5), (1.0, 0.5, 3e-6), (0.01, 0.004, 1.0))


def _table_sum_requantized(graph, activation: str) -> np.ndarray:
    """The kernel's arithmetic over every (x1, x2): table sum, then the requantization it picks."""
    (s1, z1), (s2, z2), (out_scale, out_zp) = (
        (t.quant.scale[0], t.quant.zero_point[0]) for t in (graph.tensor(name) for name in (*graph.inputs, *graph.outputs))
    )
    p = add_params(s1, s2, out_scale)
    t1 = add_input_table(z1, p.left_shift, p.input1_multiplier, p.input1_shift)
    t2 = add_input_table(z2, p.left_shift, p.input2_multiplier, p.input2_shift)
    twice_sum = 2 * t1[:, None] + 2 * t2[None, :]
    low, high = activation_range(activation, out_scale, out_zp)
    if fast_requant_bounds_hold(np.abs(t1).max() + np.abs(t2).max(), p.output_multiplier, p.output_shift):
        value = fast_requantize_array(twice_sum // 2, p.output_multiplier, p.output_shift, out_zp,
                                      negatives_clamped=low >= out_zp)
    else:
        value = multiply_by_quantized_multiplier_array(twice_sum // 2, p.output_multiplier, p.output_shift) + out_zp
    return np.clip(value, low, high)


@pytest.mark.parametrize("scales", EXTREME_SCALES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_table_identity_over_every_input_pair(scales, activation):
    rng = np.random.default_rng(len(activation))
    for _ in range(4):
        zero_points = tuple(int(z) for z in rng.integers(-128, 128, 3))
        b = GraphBuilder()
        x = b.input((256, 1), scales[0], zero_points[0])
        y = b.input((1, 256), scales[1], zero_points[1])
        graph = b.build([b.add(x, y, scales[2], zero_points[2], activation=activation)])
        values = np.arange(-128, 128, dtype=np.int8)
        call = KernelCall(graph.ops[0], [graph.tensor(x), graph.tensor(y)], [graph.tensor(graph.outputs[0])],
                          [values[:, None], values[None, :]])
        (expected,) = reference_add(call)
        assert np.array_equal(_table_sum_requantized(graph, activation), expected)


def _odd_count_graph():
    """Same-shape ADDs of 257 down to 1 elements: one row each, the unrolled loop and its remainder. The
    inputs share one quantization, so every layer shares the first one's tables (which makes the table
    kernel worth it down to 3 elements; one element stays with pqk_add_s8, whose set-up is shorter); the
    outputs differ in scale, zero point and clamp."""
    rng = np.random.default_rng(5)
    b = GraphBuilder()
    outputs = []
    for n, activation in zip(ODD_COUNTS, ACTIVATIONS * 2):
        x = b.input((1, n), 0.031, -7)
        y = b.input((1, n), 0.047, 12)
        outputs.append(b.add(x, y, float(rng.uniform(0.04, 0.12)), int(rng.integers(-128, 100)), activation=activation))
    return b.build(outputs)


def _broadcast_graph():
    """Broadcasting with rows where both inputs advance, where one repeats (input2, then input1), both
    broadcast, ranks below 4, a constant scalar, and the extreme scales (exact requantization)."""
    rng = np.random.default_rng(9)
    b = GraphBuilder()

    def quantized(shape):
        return b.input(shape, float(rng.uniform(0.005, 0.1)), int(rng.integers(-128, 128)))

    x, channel, column, middle, vector = (quantized(s) for s in ((1, 4, 3, 6), (1, 1, 1, 6), (1, 4, 3, 1), (1, 1, 3, 1), (6,)))
    scalar = b.constant(np.array([37]), "int8", b.quant(x))
    # the last: three elements, too few to pay for new tables (the table-free pqk_add_s8)
    pairs = [(x, channel), (x, column), (middle, x), (vector, x), (x, scalar), (column, channel), (middle, quantized((1,)))]
    for s1, s2, out_scale in EXTREME_SCALES:
        pairs.append((b.input((1, 4, 3, 6), s1, int(rng.integers(-128, 128))), b.input((1, 1, 3, 6), s2, -5)))
    outputs = []
    for k, (a, c) in enumerate(pairs):
        scale = EXTREME_SCALES[k - 7][2] if k >= 7 else float(rng.uniform(0.02, 0.15))
        outputs.append(b.add(a, c, scale, int(rng.integers(-128, 100)), activation=ACTIVATIONS[k % 4]))
    return b.build(outputs)


GRAPHS = {"odd_counts": _odd_count_graph, "broadcast": _broadcast_graph}


@pytest.mark.parametrize("graph_name", sorted(GRAPHS))
def test_table_kernel_chosen_and_reference_equals_tflm(tmp_path, graph_name):
    graph = GRAPHS[graph_name]()
    generated = generate_c(graph, tmp_path / "gen", board="cortex-m4")
    kernels = [layer.kernel for layer in generated.layers]
    weights = (tmp_path / "gen" / "model_weights.c").read_text()
    if graph_name == "odd_counts":
        assert kernels == ["pqk_add_s8_lut"] * 5 + ["pqk_add_s8"]
        assert generated.flash_bytes["tables"] == 2 * 256 * 4  # one pair of tables for all five layers
    else:
        assert kernels == ["pqk_add_s8_lut"] * 6 + ["pqk_add_s8"] + ["pqk_add_s8_lut"] * len(EXTREME_SCALES)
        assert ".fast_requantize = 0" in weights and ".fast_requantize = 1" in weights
    assert_bit_exact(graph, "reference", 3, seed=1)


@pytest.mark.parametrize("graph_name", sorted(GRAPHS))
def test_table_kernel_bit_exact_on_host(graph_name):
    graph = GRAPHS[graph_name]()
    assert_bit_exact(graph, "host", 3, seed=2)


@pytest.mark.parametrize("board", ["cortex-m4", "cortex-m3"])
@pytest.mark.parametrize("graph_name", sorted(GRAPHS))
def test_table_kernel_bit_exact_in_qemu(toolchain, board, graph_name):
    graph = GRAPHS[graph_name]()
    assert_bit_exact(graph, board, 3, seed=3)


def test_cost_model_pays_tables_only_where_they_save_more(tmp_path):
    # 2 KB of new tables outweigh the table-free kernel's ~115 instructions per element on small layers
    assert choose_add_kernel(4, 1, True, "full_range", table_bytes=2048).kernel == "pqk_add_s8"
    assert choose_add_kernel(4, 1, True, "full_range", table_bytes=0).kernel == "pqk_add_s8_lut"
    assert choose_add_kernel(1, 1, True, "full_range", table_bytes=0).kernel == "pqk_add_s8"  # set-up
    assert choose_add_kernel(64, 1, True, "exact", table_bytes=2048).kernel == "pqk_add_s8_lut"
    # a small layer whose input quantization an earlier layer has: its tables are stored already
    b = GraphBuilder()
    x, y = b.input((1, 8, 8, 4), 0.02, 3), b.input((1, 8, 8, 4), 0.05, -1)
    z, w = b.input((1, 4), 0.02, 3), b.input((1, 4), 0.05, -1)
    v = b.input((1, 4), 0.03, 3)
    graph = b.build([b.add(x, y, 0.06, -128, activation="RELU"), b.add(z, w, 0.07, 0), b.add(z, v, 0.07, 0)])
    generated = generate_c(graph, tmp_path / "gen", board="cortex-m4")
    assert [layer.kernel for layer in generated.layers] == ["pqk_add_s8_lut", "pqk_add_s8_lut", "pqk_add_s8"]
    assert generated.flash_bytes["tables"] == 2 * 256 * 4


# (shape1, shape2, output zero point, activation, output scale): each requantization mode of the
# kernel, rows where both inputs advance and rows where one repeats; the table-free kernel on 3 elements
COST_CASES = [
    ((1, 4096), (1, 4096), -128, "RELU", 0.06),
    ((1, 256, 16), (1, 1, 16), 5, "NONE", 0.06),
    ((1, 4096), (1,), 5, "RELU6", 0.02),
    ((1, 256, 16), (1, 256, 1), 5, "NONE", 3e-6),
    ((1, 3), (1, 3), 0, "NONE", 0.06),
]


@pytest.mark.parametrize("shape1,shape2,zero_point,activation,out_scale", COST_CASES)
def test_cost_estimates_within_5_percent_of_cortex_m4(toolchain, shape1, shape2, zero_point, activation, out_scale):
    from pqk_mcu.pipeline.bench import bench_graph

    b = GraphBuilder()
    x, y = b.input(shape1, 1.0 if out_scale < 1e-5 else 0.05, 3), b.input(shape2, 0.03 if out_scale > 1e-5 else 0.5, -4)
    result = bench_graph(b.build([b.add(x, y, out_scale, zero_point, activation=activation)]), "cortex-m4")
    (layer,) = result.layers
    assert result.bit_exact
    assert layer["kernel"] == ("pqk_add_s8" if layer["instructions"] < 1000 else "pqk_add_s8_lut")
    assert abs(layer["estimated_instructions"] - layer["instructions"]) <= 0.05 * layer["instructions"]
