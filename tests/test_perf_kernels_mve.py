"""Helium (MVE) kernel variants (*_mve.c) of cortex-m55 against the reference, bit for bit.

Host gcc cannot run MVE (the *_mve files compile to nothing there), so the kernels run only in QEMU
(mps3-an547, cortex-m55), on small graphs that cover their branches: odd channel counts (1, 3, 7,
65, 129, 257) that leave partial groups of three output channels, partial 16-byte column chunks and
partial 16-lane depthwise passes; strides 1 and 2, SAME and VALID padding, dilation; depthwise
multipliers 1, 2 and 8; an odd pixel or batch count (the last block of one pixel); in-place
pointwise layers; activation ranges narrower than int8; channels outside pqk_dsp.h's fast
requantization bounds (shift -31, shifts that scale up, accumulators beyond 2^30). The vector
requantization's Python twin is checked against the reference rounding on its edge cases.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.codegen.cost_model import KERNEL_COSTS, Layout, Target, choose_kernel
from pqk_mcu.codegen.generate import core_graph
from pqk_mcu.codegen.lower import lower_graph
from pqk_mcu.codegen.weights import encode_depthwise_lanes, encode_row_chunks
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.quant import INT32_MAX, INT32_MIN, multiply_by_quantized_multiplier, mve_requantize_array
from test_perf_kernels import _assert_bit_exact, _weights
from test_perf_kernels_any_layer import _fully_connected_graph, _outside_fast_bounds_graph

BOARD = "cortex-m55"


def _conv_graph(sparsity: float = 0.0):
    """Convolutions 3x3 SAME (3 -> 7 channels, 27 columns: a partial chunk), 2x2 SAME (7 -> 65, a
    narrower activation range), 1x1 65 -> 129, 1x1 129 -> 129 (in place), 1x1 stride 2 VALID onto one
    channel, 5x5 SAME over one channel; 35 pixels (odd), then 12."""
    rng = np.random.default_rng(21)
    b = GraphBuilder()
    x = b.input((1, 7, 5, 3), scale=0.05, zero_point=-3)
    x = b.conv2d(x, _weights(rng, (7, 3, 3, 3), sparsity), list(rng.uniform(0.002, 0.01, 7)),
                 rng.integers(-500, 500, 7).astype(np.int32), 0.08, -128, padding="SAME", activation="RELU")
    x = b.conv2d(x, _weights(rng, (65, 2, 2, 7), sparsity), list(rng.uniform(0.002, 0.01, 65)),
                 rng.integers(-500, 500, 65).astype(np.int32), 0.08, 5, padding="SAME", activation="RELU6")
    x = b.conv2d(x, _weights(rng, (129, 1, 1, 65), sparsity), list(rng.uniform(0.002, 0.01, 129)),
                 None, 0.06, -20, activation="NONE")
    x = b.conv2d(x, _weights(rng, (129, 1, 1, 129), sparsity), list(rng.uniform(0.001, 0.004, 129)),
                 rng.integers(-500, 500, 129).astype(np.int32), 0.07, -128, activation="RELU")
    x = b.conv2d(x, _weights(rng, (1, 1, 1, 129), sparsity), 0.002, None, 0.07, 3, stride=2, padding="VALID")
    x = b.conv2d(x, _weights(rng, (3, 5, 5, 1), sparsity), list(rng.uniform(0.01, 0.03, 3)), None, 0.1, -128,
                 padding="SAME", activation="RELU")
    return b.build(outputs=[x])


def _depthwise_graph():
    """Depthwise 3x3 over 3, 17 and 65 channels (partial 16-lane passes), SAME stride 1, VALID stride
    2, SAME dilation 2, 5x5; depth multipliers 2 and 8 over 3 channels; ReLU onto part of int8."""
    rng = np.random.default_rng(22)
    b = GraphBuilder()
    source = b.input((1, 7, 6, 3), scale=0.05, zero_point=-3)
    outputs = []
    for channels, multiplier, kernel, stride, padding, dilation, activation in (
            (3, 1, 3, 1, "SAME", 1, "RELU"), (3, 2, 3, 2, "VALID", 1, "NONE"), (3, 8, 5, 1, "SAME", 1, "RELU6")):
        scale = list(rng.uniform(0.002, 0.02, channels * multiplier))
        outputs.append(b.depthwise_conv2d(
            source, _weights(rng, (1, kernel, kernel, channels * multiplier), 0.0), scale,
            rng.integers(-300, 300, channels * multiplier).astype(np.int32), 0.05, -128 if activation == "RELU" else 4,
            stride=stride, padding=padding, dilation=dilation, activation=activation))
    x = b.conv2d(source, _weights(rng, (17, 1, 1, 3), 0.0), 0.004, None, 0.08, -128, activation="RELU")
    x = b.depthwise_conv2d(x, _weights(rng, (1, 3, 3, 17), 0.0), list(rng.uniform(0.002, 0.02, 17)), None, 0.05,
                           -128, padding="SAME", dilation=2, activation="RELU")
    x = b.conv2d(x, _weights(rng, (65, 1, 1, 17), 0.0), 0.004, None, 0.08, -128, activation="RELU")
    outputs.append(b.depthwise_conv2d(x, _weights(rng, (1, 3, 3, 65), 0.0), list(rng.uniform(0.002, 0.02, 65)),
                                      None, 0.05, 2, stride=2, padding="SAME", activation="NONE"))
    return b.build(outputs=outputs)


def _kernels(generated):
    return [layer.kernel for layer in generated.layers if layer.kernel]


def test_dense_convolutions_bit_exact(tmp_path, toolchain):
    generated = generate_c(_conv_graph(), tmp_path / "gen", weight_format="dense", board=BOARD)
    assert set(_kernels(generated)) == {"pqk_conv2d_s8_mve"}
    calls = [line.split("(", 1)[1].split(", ") for line in (generated.out_dir / "model.c").read_text().splitlines()
             if line.strip().startswith("pqk_conv2d_s8_mve(")]
    assert any(args[2] == args[3] for args in calls)  # the 129 -> 129 pointwise layer runs in place
    _assert_bit_exact(generated, BOARD, tmp_path)


def test_depthwise_bit_exact(tmp_path, toolchain):
    generated = generate_c(_depthwise_graph(), tmp_path / "gen", weight_format="dense", board=BOARD)
    assert _kernels(generated).count("pqk_depthwise_conv2d_s8_mve") == 5
    _assert_bit_exact(generated, BOARD, tmp_path)


def test_fully_connected_bit_exact(tmp_path, toolchain):
    """1 to 257 features onto 1 to 129 outputs, per-channel and per-tensor, two batches."""
    generated = generate_c(_fully_connected_graph(), tmp_path / "gen", weight_format="dense", board=BOARD)
    # tiny layers whose padded chunks cost more flash than they save: portable kernel there
    assert _kernels(generated).count("pqk_fully_connected_s8_mve") >= 5
    _assert_bit_exact(generated, BOARD, tmp_path)


def test_fully_connected_odd_batches(tmp_path, toolchain):
    rng = np.random.default_rng(23)
    b = GraphBuilder()
    x = b.input((3, 40), scale=0.05, zero_point=-3)
    x = b.fully_connected(x, _weights(rng, (5, 40), 0.0), list(rng.uniform(0.002, 0.01, 5)),
                          rng.integers(-500, 500, 5).astype(np.int32), 0.2, 1)
    generated = generate_c(b.build(outputs=[x]), tmp_path / "gen", weight_format="dense", board=BOARD)
    assert _kernels(generated) == ["pqk_fully_connected_s8_mve"]
    _assert_bit_exact(generated, BOARD, tmp_path)


def test_channels_outside_fast_bounds(tmp_path, toolchain):
    generated = generate_c(_outside_fast_bounds_graph(), tmp_path / "gen", weight_format="dense", board=BOARD)
    assert _kernels(generated) == ["pqk_conv2d_s8_mve", "pqk_depthwise_conv2d_s8_mve", "pqk_conv2d_s8_mve",
                                   "pqk_fully_connected_s8_mve"]
    assert (generated.out_dir / "model_weights.c").read_text().count(".requant.checked = 1") == 4
    _assert_bit_exact(generated, BOARD, tmp_path)


def test_weight_layouts():
    matrix = np.arange(4 * 18, dtype=np.int64).reshape(4, 18).astype(np.int8)
    chunks = encode_row_chunks(matrix)
    assert chunks.size == 6 * 32  # rows padded to 6, columns to 32
    assert chunks[16:32].tolist() == matrix[1, :16].tolist()  # group 0, chunk 0, row 1
    assert chunks[48:50].tolist() == matrix[0, 16:].tolist() and not chunks[50:64].any()  # chunk 1, row 0
    assert chunks[96:112].tolist() == matrix[3, :16].tolist() and not chunks[112:144].any()  # group 1: row 3, zero rows
    weights = np.arange(2 * 3 * 4, dtype=np.int8).reshape(1, 2, 3 * 4)  # 2 taps, 3 channels x multiplier 4
    lanes = encode_depthwise_lanes(weights, 4)
    assert lanes.size == 4 * 2 * 16
    # multiplier 1, tap 1: output channels 1, 5, 9 of the second tap, then zero padding
    assert lanes[48:51].tolist() == [13, 17, 21] and not lanes[51:64].any()


def test_kernel_choice_needs_mve():
    matrix = np.ones((8, 16), dtype=np.int8)
    layout = Layout(kind="CONV_2D", positions=64, input_c=16)
    assert choose_kernel(matrix, "pqk_conv2d_s8", layout, "dense", Target(has_dsp=True, has_mve=True),
                         fast_requant=True).kernel == "pqk_conv2d_s8_mve"
    assert choose_kernel(matrix, "pqk_conv2d_s8", layout, "dense", Target(has_dsp=True),
                         fast_requant=True).kernel == "pqk_conv2d_s8_dsp"
    assert Target.from_board("cortex-m55").has_mve and not Target.from_board("cortex-m4").has_mve
    depthwise = Layout(kind="DEPTHWISE_CONV_2D", positions=64, input_c=8)
    weights = np.full((8, 9), -128, dtype=np.int8)  # two products of -128 * -128 overflow the int16 sums
    assert choose_kernel(weights, "pqk_depthwise_conv2d_s8", depthwise, "dense", Target(has_dsp=True, has_mve=True),
                         fast_requant=True).kernel != "pqk_depthwise_conv2d_s8_mve"


def test_vector_requantization_twin():
    """mve_requantize_array (pqk_mve.h's instruction sequence) equals the reference requantization
    + zero point, clamped: ties of both signs, shifts -31..30, multipliers 0 and near 2^31, extreme
    accumulators, wrapping left shifts; and under negatives_clamped wherever the clamp starts at or
    above the zero point."""
    rng = np.random.default_rng(24)
    acc = np.concatenate([rng.integers(INT32_MIN, INT32_MAX, 4000, endpoint=True),
                          rng.integers(-5000, 5000, 4000), [INT32_MIN, INT32_MAX, 0, -1, 1, 1 << 30, -(1 << 30)]])
    for multiplier in (0, 1, 1 << 30, (1 << 31) - 1, 1518500250, int(rng.integers(1, 1 << 31))):
        for shift in (-31, -24, -23, -9, -1, 0, 1, 7, 30):
            for zero_point, low, high, clamped in ((-128, -128, 127, True), (5, -128, 127, False),
                                                   (-3, 0, 50, True), (7, -20, 100, False)):
                expected = np.array([min(max(multiply_by_quantized_multiplier(int(a), multiplier, shift) + zero_point,
                                             low), high) for a in acc])
                got = mve_requantize_array(acc, multiplier, shift, zero_point, low, high, clamped)
                assert got.tolist() == expected.tolist(), (multiplier, shift, zero_point)
    # exact ties: x * m / 2^31 = k + 1/2 for both signs, then rounding shifts of +-(k + 1/2) * 2^e
    ties = np.array([1, -1, 3, -3, (1 << 20) + 1, -(1 << 20) - 1], dtype=np.int64)
    for shift in (-1, -2, -5):
        acc = ties << -shift
        expected = [min(max(multiply_by_quantized_multiplier(int(a), 1 << 30, shift), -128), 127) for a in acc]
        assert mve_requantize_array(acc, 1 << 30, shift, 0, -128, 127).tolist() == expected


def test_fully_connected_single_batch(tmp_path, toolchain):
    """One batch: rows of whole 16-byte chunks (32 and 256 features) read where they are, the others (48 + 1,
    65) copied into scratch; scratch for one pixel's sums only."""
    rng = np.random.default_rng(24)
    b = GraphBuilder()
    x = b.input((1, 32), scale=0.05, zero_point=-3)
    for features, outputs in ((32, 256), (256, 49), (49, 65), (65, 19)):
        x = b.fully_connected(x, _weights(rng, (outputs, features), 0.0), list(rng.uniform(0.002, 0.01, outputs)),
                              rng.integers(-500, 500, outputs).astype(np.int32), 0.2, 1, activation="RELU")
    generated = generate_c(b.build(outputs=[x]), tmp_path / "gen", weight_format="dense", board=BOARD)
    assert _kernels(generated) == ["pqk_fully_connected_s8_mve"] * 4
    _assert_bit_exact(generated, BOARD, tmp_path)


def test_fully_connected_tiny_single_batch_keeps_its_sums_on_the_stack(tmp_path, toolchain, monkeypatch):
    """At most 32 outputs of one batch, the row whole chunks (16, 32 features) or at most 32 bytes (1, 17, 3
    features, copied onto the stack): no scratch (NULL), the sums on the stack (hello_world: arena 104 -> 32 B)."""
    monkeypatch.setitem(KERNEL_COSTS, "pqk_fully_connected_s8_mve",
                        dataclasses.replace(KERNEL_COSTS["pqk_fully_connected_s8_mve"], per_call=-1e9))
    rng = np.random.default_rng(25)
    b = GraphBuilder()
    x = b.input((1, 1), scale=0.05, zero_point=-3)
    for features, outputs in ((1, 17), (17, 16), (16, 32), (32, 3), (3, 31), (31, 1)):
        x = b.fully_connected(x, _weights(rng, (outputs, features), 0.0), list(rng.uniform(0.002, 0.01, outputs)),
                              rng.integers(-500, 500, outputs).astype(np.int32), 0.2, 1, activation="RELU")
    graph = b.build(outputs=[x])
    layers, _ = lower_graph(core_graph(graph), "dense", Target.from_board(BOARD))
    assert [(layer.kernel, layer.scratch_bytes, layer.calls[-1].args[-1]) for layer in layers] == [
        ("pqk_fully_connected_s8_mve", 0, "NULL")] * 6
    generated = generate_c(graph, tmp_path / "gen", weight_format="dense", board=BOARD)
    _assert_bit_exact(generated, BOARD, tmp_path)
