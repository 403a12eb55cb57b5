"""FULLY_CONNECTED on DSP cores: pqk_fully_connected_s8_dsp (dense, input widened once),
pqk_fully_connected_s8_csr_dsp (CSR) and pqk_fully_connected_s8_csr_pairs_dsp (column pairs and singles),
against the reference, on the host (plain-C DSP fallbacks under ASan/UBSan) and on cortex-m4 in QEMU (the
real instructions and the assembly).

Layers of 1, 3, 4, 7, 65, 129 and 257 input features onto 1 to 129 outputs (quads and column groups with
tails; layers of at most 8 outputs, or 16 over whole column groups, read their input directly, without
scratch), batches 1 and 3, per-tensor and per-channel weights, activations onto all of int8 and
narrower, sparsities 0.5, 0.9 and 0.99 with empty rows, 16-bit columns and row pointers, and channels outside pqk_dsp.h's fast-requantization
bounds (requant.checked); the column-pair kernel on layers of at most 128 inputs (halfword singles) and
wider, rows of odd and even pair and single group counts, outputs over several 32-row chunks. A 1x1 convolution on a 1x1 input runs as FULLY_CONNECTED (IR pass
single_pixel_conv_to_fully_connected), with the same outputs in the reference.
pqk_fully_connected_s8_narrow_dsp on per-tensor ReLU layers of 1, 3, 4, 7, 8 and 16 inputs onto 1 to 129 outputs
(odd and even row counts, 1, 2, 4 and 8 pairs per row) and of 20 to 128 inputs onto 4 to 16 outputs (quads, odd
and even column group counts), batches 1 and 2; per-channel, unclamped and narrow-clamp layers and one outside
the fast bounds stay on other kernels.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.codegen.cost_model import FULLY_CONNECTED_NARROW_DSP, FULLY_CONNECTED_PAIRS_DSP, KERNEL_COSTS
from pqk_mcu.codegen.weights import column_pair_slots, encode_column_pairs, encode_narrow, encode_row_quads
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.codegen import core_graph
from pqk_mcu.reference import run_reference
from test_perf_kernels import _assert_bit_exact, _inputs

TARGETS = ["host", "cortex-m4"]
# (input features, outputs, per-channel, activation, output zero point, sparsity)
LAYERS = (
    (257, 129, True, "RELU", -128, 0.5), (129, 65, False, "NONE", 3, 0.9), (65, 7, True, "RELU6", -5, 0.99),
    (7, 3, True, "NONE", 0, 0.5), (3, 66, False, "RELU", -128, 0.5), (66, 9, True, "NONE", 1, 0.9),
    (9, 1, True, "NONE", -2, 0.0), (1, 5, True, "NONE", 4, 0.0), (5, 600, False, "RELU", -128, 0.9),
    (600, 4, True, "NONE", 6, 0.5), (4, 13, True, "NONE", -1, 0.5),
)


def _weights(rng, shape, sparsity):
    w = rng.integers(-127, 128, size=shape).astype(np.int8)
    w[rng.random(shape) < sparsity] = 0
    if sparsity >= 0.9:
        w[::5] = 0  # empty rows
    return w


def _fully_connected_graph(batches: int, sparse: bool, outside_bounds: bool = False):
    rng = np.random.default_rng(17 + batches)
    b = GraphBuilder()
    x = b.input((batches, LAYERS[0][0]), scale=0.05, zero_point=-3)
    for features, outputs, per_channel, activation, zero_point, sparsity in LAYERS:
        scale = list(rng.uniform(0.002, 0.01, outputs)) if per_channel else 0.004
        bias = rng.integers(-2000, 2000, outputs).astype(np.int32)
        if outside_bounds and per_channel and outputs >= 4:
            scale[0], scale[1] = 1e-10, 40.0  # shift -31 (a nearly dead channel); a shift > 0
            bias[2], bias[3] = 1_500_000_000, -1_500_000_000  # accumulators beyond 2^30
        weights = _weights(rng, (outputs, features), sparsity if sparse else 0.0)
        x = b.fully_connected(x, weights, scale, bias, 0.2, zero_point, activation=activation)
    return b.build(outputs=[x])


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("batches", [1, 3])
def test_dense_fully_connected_dsp(tmp_path, toolchain, monkeypatch, target, batches):
    # pqk_fully_connected_s8_narrow_dsp never chosen: the layers of few inputs stay on this kernel
    cost = dataclasses.replace(KERNEL_COSTS[FULLY_CONNECTED_NARROW_DSP], per_call=1e12)
    monkeypatch.setitem(KERNEL_COSTS, FULLY_CONNECTED_NARROW_DSP, cost)
    generated = generate_c(_fully_connected_graph(batches, sparse=False), tmp_path / "gen", weight_format="dense",
                           board="cortex-m4")
    kernels = [layer.kernel for layer in generated.layers]
    assert kernels.count("pqk_fully_connected_s8_dsp") >= 7, kernels
    _assert_bit_exact(generated, target, tmp_path)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("batches,outside_bounds", [(1, False), (3, True)])
def test_sparse_fully_connected_dsp(tmp_path, toolchain, without_column_pairs, without_dead_channel_elimination, target,
                                    batches, outside_bounds):
    generated = generate_c(_fully_connected_graph(batches, sparse=True, outside_bounds=outside_bounds),
                           tmp_path / "gen", weight_format="csr", board="cortex-m4")
    kernels = [layer.kernel for layer in generated.layers]
    # all but perhaps the 9 -> 1 layer, which the portable kernel may run in fewer instructions
    assert kernels.count("pqk_fully_connected_s8_csr_dsp") >= len(LAYERS) - 1, kernels
    weights_c = (generated.out_dir / "model_weights.c").read_text()
    assert "row_ptr_u16" in weights_c and "col_u16" in weights_c and "row_len_u8" in weights_c
    assert (".requant.checked = 1" in weights_c) == outside_bounds
    _assert_bit_exact(generated, target, tmp_path)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("batches,outside_bounds", [(1, False), (3, True)])
def test_column_pairs_fully_connected_dsp(tmp_path, toolchain, monkeypatch, without_dead_channel_elimination, target,
                                          batches, outside_bounds):
    # on every layer (the cost model would give some to pqk_fully_connected_s8_csr_dsp)
    cost = dataclasses.replace(KERNEL_COSTS[FULLY_CONNECTED_PAIRS_DSP], per_call=-1e9)
    monkeypatch.setitem(KERNEL_COSTS, FULLY_CONNECTED_PAIRS_DSP, cost)
    generated = generate_c(_fully_connected_graph(batches, sparse=True, outside_bounds=outside_bounds),
                           tmp_path / "gen", weight_format="csr", board="cortex-m4")
    assert {layer.kernel for layer in generated.layers} == {FULLY_CONNECTED_PAIRS_DSP}
    weights_c = (generated.out_dir / "model_weights.c").read_text()
    assert (".requant.checked = 1" in weights_c) == outside_bounds
    _assert_bit_exact(generated, target, tmp_path)


def _signed_half(value: int) -> int:
    return value & 0xFFFF


def test_column_pairs_layout():
    """pqk_fully_connected_s8_csr_pairs_dsp's stream: per row a header (dispatch code 3 * P + S, P/S 0 none, 1 even,
    2 odd group count | pair passes << 4 | single passes << 16), pairs of
    adjacent nonzeros (from the left) as (value pair, offset) in groups of two, singles in groups of four as
    value << 16 | offset, up to 128 inputs as halfwords offset | value << 8; offsets are 2 * column."""
    wide = np.zeros((3, 300), dtype=np.int8)
    wide[1, [3, 4, 5, 299]] = [-128, 7, 9, -1]
    wide[2, [0, 1, 2, 3]] = [1, -1, 127, -2]
    pairs = encode_column_pairs(wide)
    assert not pairs.narrow and (pairs.pair_slots, pairs.single_slots) == column_pair_slots(wide) == (4, 4)
    word = lambda low, high: _signed_half(low) | _signed_half(high) << 16  # noqa: E731
    assert pairs.stream.tolist() == [
        0,
        8 | 1 << 4 | 1 << 16, word(-128, 7), 6, 0, 0, word(10, 9), word(598, -1), 0, 0,
        6 | 1 << 4, word(1, -1), 0, word(127, -2), 4,
    ]
    assert pairs.value_bytes == 4 * 4 + 2 * 4 and pairs.index_bytes == pairs.stream.nbytes - pairs.value_bytes
    narrow = encode_column_pairs(wide[:, :128])
    assert narrow.narrow and narrow.stream.tolist() == [
        0,
        8 | 1 << 4 | 1 << 16, word(-128, 7), 6, 0, 0, (10 | (9 << 8)), 0,
        6 | 1 << 4, word(1, -1), 0, word(127, -2), 4,
    ]
    assert encode_column_pairs(np.zeros((1, 8192), dtype=np.int8)) is None


def _single_pixel_conv_graph(batches: int):
    """1x1 convolutions on a 1x1 input (person_detect's classifier: 256 -> 2, per-channel), SAME and VALID,
    stride 1 and 2, per-tensor and per-channel, with and without ReLU; batches 1 or 3."""
    rng = np.random.default_rng(23)
    b = GraphBuilder()
    x = b.input((batches, 1, 1, 129), scale=0.05, zero_point=-3)
    x = b.conv2d(x, rng.integers(-127, 128, (65, 1, 1, 129)).astype(np.int8), list(rng.uniform(0.002, 0.01, 65)),
                 rng.integers(-500, 500, 65).astype(np.int32), 0.1, -128, padding="SAME", activation="RELU")
    x = b.conv2d(x, rng.integers(-127, 128, (2, 1, 1, 65)).astype(np.int8), 0.004, None, 0.2, 5, stride=2,
                 padding="VALID")
    return b.build(outputs=[x])


@pytest.mark.parametrize("batches", [1, 3])
def test_single_pixel_conv_becomes_fully_connected(batches):
    graph = _single_pixel_conv_graph(batches)
    core = core_graph(graph)
    assert [op.kind for op in core.ops] == ["FULLY_CONNECTED"] * 2
    assert [core.tensor(op.outputs[0]).shape for op in core.ops] == [(batches, 1, 1, 65), (batches, 1, 1, 2)]
    for x in _inputs(graph):
        expected, got = run_reference(graph, [x])["outputs"], run_reference(core, [x])["outputs"]
        assert all(np.array_equal(a, b) for a, b in zip(expected, got))


@pytest.mark.parametrize("target", TARGETS)
def test_single_pixel_conv_bit_exact(tmp_path, toolchain, target):
    generated = generate_c(_single_pixel_conv_graph(3), tmp_path / "gen", board="cortex-m4")
    assert {layer.kernel for layer in generated.layers} == {"pqk_fully_connected_s8_dsp"}
    _assert_bit_exact(generated, target, tmp_path)


# pqk_fully_connected_s8_narrow_dsp: (input features, outputs, per-channel, activation, output zero point); it takes
# the per-tensor layers onto zero point -128 (ReLU or none: the clamp at the zero point) of at most 16 inputs
# (records) or of whole column groups onto whole quads of at most 16 outputs (quads)
NARROW_LAYERS = (
    (16, 7, False, "RELU", -128), (7, 3, False, "RELU", -128), (3, 1, False, "NONE", -128),
    (1, 129, False, "RELU", -128),
    (129, 8, False, "RELU", -128), (8, 65, False, "RELU", -128), (65, 7, True, "RELU", -128),
    (7, 16, False, "RELU", -128), (16, 129, True, "RELU6", -5), (129, 3, False, "NONE", 2),
    (3, 65, False, "RELU", -128), (65, 128, False, "RELU", -128), (128, 8, False, "RELU", -128),
    (8, 36, False, "RELU", -128), (36, 4, False, "RELU", -128), (4, 20, False, "RELU", -128),
    (20, 16, False, "RELU", -128), (16, 16, False, "RELU", -128), (16, 8, True, "RELU", -128),
)
NARROW_OUTSIDE_BOUNDS = (8, 65, False, "RELU", -128)  # a scale whose shift is -31: another kernel's


def _narrow_graph(batches: int):
    rng = np.random.default_rng(29 + batches)
    b = GraphBuilder()
    x = b.input((batches, NARROW_LAYERS[0][0]), scale=0.05, zero_point=-3)
    for index, (features, outputs, per_channel, activation, zero_point) in enumerate(
            NARROW_LAYERS + (NARROW_OUTSIDE_BOUNDS,)):
        scale = list(rng.uniform(0.002, 0.01, outputs)) if per_channel else 0.004
        if index == len(NARROW_LAYERS):
            scale = 1e-10
        weights = rng.integers(-128, 128, size=(outputs, features)).astype(np.int8)
        bias = rng.integers(-3000, 3000, outputs).astype(np.int32)
        x = b.fully_connected(x, weights, scale, bias, 0.2, zero_point, activation=activation)
    return b.build(outputs=[x])


def _narrow_layer(features: int, outputs: int, per_channel: bool, activation: str, zero_point: int) -> bool:
    fits = features <= 16 or (features % 4 == 0 and outputs % 4 == 0 and outputs <= 16)
    return fits and not per_channel and activation in ("RELU", "NONE") and zero_point == -128


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("batches", [1, 2])
def test_narrow_fully_connected_dsp(tmp_path, toolchain, monkeypatch, target, batches):
    # on every layer it can run (the cost model gives some of them to pqk_fully_connected_s8_dsp)
    cost = dataclasses.replace(KERNEL_COSTS[FULLY_CONNECTED_NARROW_DSP], per_call=-1e9)
    monkeypatch.setitem(KERNEL_COSTS, FULLY_CONNECTED_NARROW_DSP, cost)
    generated = generate_c(_narrow_graph(batches), tmp_path / "gen", weight_format="dense", board="cortex-m4")
    narrow = [layer.kernel == FULLY_CONNECTED_NARROW_DSP for layer in generated.layers]
    assert narrow == [_narrow_layer(*layer) for layer in NARROW_LAYERS] + [False], narrow
    assert ".requant.checked = 1" in (generated.out_dir / "model_weights.c").read_text()
    _assert_bit_exact(generated, target, tmp_path)


def test_narrow_weights_layout():
    """pqk_fully_connected_s8_narrow_dsp's words: a header (multiplier, offset, then for records the loop count << 8 |
    right shift and the entry, for quads the right shift and 8), then per row 2 * bias and the doubled weights as
    int16 pairs in SXTB16's order ((w0, w2), (w1, w3) per column group), padded to 1, 2, 4 or 8 pairs; or the bias
    and the row quads."""
    half = lambda low, high: (low & 0xFFFF) | (high & 0xFFFF) << 16  # noqa: E731
    matrix = np.array([[1, -2, 3], [-128, 127, 0], [5, 6, 7]], dtype=np.int8)
    words = encode_narrow(matrix, np.array([10, -20, 0]), 1 << 30, -3, -128)
    assert words.tolist() == [
        1 << 30, (-255 << 2) & 0xFFFFFFFF, 1 << 8 | 3, 2 * 1 + 1,
        20, half(2, 6), half(-4, 0),
        (-40) & 0xFFFFFFFF, half(-256, 0), half(254, 0),
        0, half(10, 14), half(12, 0),
    ]
    assert encode_narrow(matrix[:2, :1], np.zeros(2), 1 << 30, -1, 0).tolist() == [
        1 << 30, 1, 0 << 8 | 1, 0, 0, half(2, 0), 0, half(-256, 0)]
    assert encode_narrow(np.ones((1, 9), np.int8), np.zeros(1), 1 << 30, -1, 0).size == 4 + 1 + 8
    quads = np.arange(-40, 40, dtype=np.int8).reshape(4, 20)
    words = encode_narrow(quads, np.array([1, 2, 3, -4]), 1 << 30, -2, 5)
    assert words[:8].tolist() == [1 << 30, 11 << 1, 2, 8, 1, 2, 3, (-4) & 0xFFFFFFFF]
    assert words[8:].view(np.int8).tolist() == encode_row_quads(quads).tolist()


def _single_value_chain(batches: int):
    """FULLY_CONNECTED layers of one input and one output feature (what dead-channel elimination leaves of
    hello_world pruned to 80%): per-tensor and per-channel, ReLU, ReLU6 and none, with and without bias."""
    b = GraphBuilder()
    x = b.input((batches, 1), scale=0.05, zero_point=-3)
    for weight, scale, bias, activation, zero_point in (
        (37, 0.004, 900, "RELU", -128), (-90, [0.003], -2500, "NONE", 5), (127, 0.01, None, "RELU6", -20),
        (-1, 0.5, 12, "NONE", 0),
    ):
        x = b.fully_connected(x, np.array([[weight]], dtype=np.int8), scale,
                              None if bias is None else np.array([bias], dtype=np.int32), 0.07, zero_point,
                              activation=activation)
    return b.build(outputs=[x])


@pytest.mark.parametrize("target", TARGETS)
def test_single_value_fully_connected_is_a_table(tmp_path, toolchain, target):
    """Each output of a 1 -> 1 FULLY_CONNECTED is a function of one int8 input: the layer runs as a lookup table
    (pqk_lut_s8) built from the reference, bit-exact on every input value."""
    graph = _single_value_chain(batches=256)
    generated = generate_c(graph, tmp_path / "gen", board="cortex-m4")
    assert {layer.kernel for layer in generated.layers} == {"pqk_lut_s8"}
    _assert_bit_exact(generated, target, tmp_path)
