"""pqk_conv2d_s8_csr_wide_dsp (sparse CONV_2D of any row length on DSP cores) against the reference.

The wide CSR stream round-trips and refuses what it cannot hold; small graphs whose convolutions the
packed format cannot take (rows beyond 64 columns, channels outside the fast requantization bounds)
run bit-exact on the host (plain-C DSP fallbacks under ASan/UBSan) and in QEMU (the assembly of the
two usual requantization modes, the C path of the others): input channels 1, 3, 7, 65, 129 and 257,
output channels 1, 3, 7 and 65, 3x3 / 1x1 / 10x8 / 5x5 / 2x5 filters, strides 1 and 2, SAME and VALID
padding, dilation 2, pixel counts that leave partial blocks of every size, rows without nonzeros, an
in-place pointwise chain.
"""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.codegen.cost_model import WIDE_CONV_KERNEL, Target
from pqk_mcu.codegen.lower import lower_graph
from pqk_mcu.codegen.weights import WIDE_BYTES_PER_ROW, WIDE_LAST_OF_ROW, encode_wide
from pqk_mcu.ir.builder import GraphBuilder
from test_perf_kernels import _assert_bit_exact, _weights


def _decode_stream(stream: np.ndarray, rows: int, cols: int):
    """(matrix, twice bias, right shift, offset, multiplier) from a WideCsr stream."""
    words = stream.astype(np.int64)
    matrix = np.zeros((rows, cols), dtype=np.int64)
    bias, trailer = [], []
    i = 0
    for r in range(rows):
        bias.append(words[i] - (1 << 32) * (words[i] >> 31))
        i += 1
        while True:
            entry = int(words[i])
            i += 1
            value = (entry >> 16) - (1 << 16) * (entry >> 31)
            assert value % 2 == 0
            matrix[r, entry & (WIDE_LAST_OF_ROW - 1)] += value // 2
            if entry & WIDE_LAST_OF_ROW:
                break
        trailer.append([w - (1 << 32) * (w >> 31) for w in words[i:i + 3].tolist()])
        i += 3
    assert i == stream.size
    right_shift, offset, multiplier = (np.array(column) for column in zip(*trailer))
    return matrix, np.array(bias), right_shift, offset, multiplier


def test_wide_csr_round_trips():
    """Per row: twice the bias, the nonzeros doubled with their columns (above 64 and up to 2^15 - 1),
    the last flagged, an empty row's one zero entry, then right shift, the fast form's offset (0 for
    a channel outside the fast bounds) and multiplier."""
    rng = np.random.default_rng(3)
    matrix = _weights(rng, (6, 5000), 0.97)
    matrix[2] = 0
    matrix[4, -1] = -128
    bias = rng.integers(-100_000, 100_000, 6)
    multiplier = rng.integers(1 << 30, 1 << 31, 6)
    multiplier[5] = 1 << 20  # outside the fast bounds
    shift = np.array([-1, -5, -9, -23, 3, -31])
    wide = encode_wide(matrix, bias, multiplier, shift, -7)
    decoded, twice_bias, right_shift, offset, decoded_multiplier = _decode_stream(wide.stream, 6, 5000)
    assert decoded.tolist() == matrix.astype(np.int64).tolist()
    assert twice_bias.tolist() == (2 * bias).tolist() and right_shift.tolist() == (-shift).tolist()
    assert decoded_multiplier.tolist() == multiplier.tolist()
    fast = [True, True, True, True, False, False]
    expected_offset = [((-13 << (e - 1)) if f else 0) for e, f in zip(-shift, fast)]
    assert offset.tolist() == expected_offset
    assert wide.entries == np.count_nonzero(matrix) + 1  # the empty row's entry
    assert wide.value_bytes == wide.index_bytes == 2 * wide.entries
    assert wide.requant_bytes == WIDE_BYTES_PER_ROW * 6
    assert wide.stream.nbytes == wide.value_bytes + wide.index_bytes + wide.requant_bytes


def test_wide_csr_refuses_what_it_cannot_hold():
    ones = np.ones((2, 9), dtype=np.int8)
    multiplier, shift = np.full(2, 1 << 30), np.array([-3, -3])
    assert encode_wide(np.ones((1, (1 << 15) + 1), dtype=np.int8), [0], [1 << 30], [-3], 0) is None  # column bits
    assert encode_wide(ones, [(1 << 30) - 100, 0], multiplier, shift, 0) is None  # twice the accumulator: int32
    assert encode_wide(ones, [0, 0], multiplier, np.array([-3, 32]), 0) is None  # pqk_requantize's left shift
    assert encode_wide(ones, [(1 << 30) - 128 * 9 - 1, 0], multiplier, shift, 0) is not None


def _conv(b, x, rng, out_c, k_h, k_w, sparsity, activation, zero_point, empty_rows=(), **kwargs):
    in_c = b.shape(x)[3]
    w = _weights(rng, (out_c, k_h, k_w, in_c), sparsity)
    for row in empty_rows:
        w[row] = 0
    return b.conv2d(x, w, list(rng.uniform(0.0005, 0.004, out_c)), rng.integers(-3_000, 3_000, out_c).astype(np.int32),
                    0.1, zero_point, activation=activation, **kwargs)


def _wide_graph():
    """Input channels 1 (10x8 stride 2 SAME, 35 pixels), 3 (5x5 VALID), 7 (2x5 SAME dilation 2),
    65 (1x1 in place), 129 (1x1 stride 2), 257 (1x1); output channels 65, 7, 3, 1 among them; ReLU
    onto all of int8 (zero point -128), no activation and ReLU6 onto part of int8."""
    rng = np.random.default_rng(21)
    b = GraphBuilder()
    x = b.input((1, 13, 9, 1), scale=0.05, zero_point=-3)
    x = _conv(b, x, rng, 65, 10, 8, 0.7, "RELU", -128, empty_rows=(0, 64), stride=2, padding="SAME")  # 7x5
    x = _conv(b, x, rng, 65, 1, 1, 0.8, "NONE", 3, empty_rows=(5,))  # in place: 65 -> 65
    x = _conv(b, x, rng, 3, 1, 1, 0.5, "RELU6", -20)
    x = _conv(b, x, rng, 7, 5, 5, 0.6, "RELU", -128, padding="SAME")  # 75 columns, partial block of 3
    x = _conv(b, x, rng, 129, 2, 5, 0.7, "NONE", -5, padding="SAME", dilation=2)  # 70 columns
    x = _conv(b, x, rng, 257, 1, 1, 0.9, "RELU", -128, stride=2, padding="VALID")  # 129 in: 4x3 = 12 pixels
    x = _conv(b, x, rng, 1, 1, 1, 0.9, "NONE", 2)  # 257 in, one output channel
    return b.build(outputs=[x])


def _small_channel_graph():
    """Three input channels (5x5 SAME over 9x7: 63 pixels) onto 9, then filters over those 9 channels
    (81 columns and more) whose pixel counts leave partial blocks of every size: 3x3 VALID 35, 3x5
    VALID 21, 9x7 VALID 1, 3x3 stride 2 SAME 20, 3x3 stride 3 VALID 6, 5x6 VALID 10, 2x4 VALID 32;
    each requantization mode (ReLU onto all of int8, none, ReLU6 onto part of int8)."""
    rng = np.random.default_rng(22)
    b = GraphBuilder()
    x = b.input((1, 9, 7, 3), scale=0.05, zero_point=4)
    y = _conv(b, x, rng, 9, 5, 5, 0.6, "RELU", -128, padding="SAME")
    outputs = [y]
    for (k_h, k_w), stride, padding, activation, zero_point in (
            ((3, 3), 1, "VALID", "NONE", -1), ((3, 5), 1, "VALID", "RELU6", -20), ((9, 7), 1, "VALID", "RELU", -128),
            ((3, 3), 2, "SAME", "RELU", -128), ((3, 3), 3, "VALID", "NONE", 5), ((5, 6), 1, "VALID", "RELU", -128),
            ((2, 4), 1, "VALID", "RELU6", -20)):
        outputs.append(_conv(b, y, rng, 5, k_h, k_w, 0.7, activation, zero_point, stride=stride, padding=padding))
    return b.build(outputs=outputs)


def _requant_checked_graph():
    """3x3 over 8 channels (72 columns) with channels outside the fast bounds (shift -31, a positive
    shift): the whole layer requantizes through PQK_FAST_CHECKED."""
    rng = np.random.default_rng(23)
    b = GraphBuilder()
    x = b.input((1, 5, 6, 8), scale=0.05, zero_point=-3)
    scales = list(rng.uniform(0.002, 0.01, 8))
    scales[0], scales[1] = 1e-10, 40.0
    w = _weights(rng, (8, 3, 3, 8), 0.7)
    x = b.conv2d(x, w, scales, rng.integers(-300, 300, 8).astype(np.int32), 0.1, -128, padding="SAME",
                 activation="RELU")
    return b.build(outputs=[x])


def _wide_layers(generated):
    return [layer for layer in generated.layers if layer.kernel == WIDE_CONV_KERNEL]


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_wide_conv_bit_exact(tmp_path, toolchain, without_dead_channel_elimination, target):
    generated = generate_c(_wide_graph(), tmp_path / "gen", weight_format="csr", board="cortex-m4")
    assert len(_wide_layers(generated)) >= 6  # the cost model may send one elsewhere
    layers, _ = lower_graph(generated.graph, "csr", Target(has_dsp=True))
    assert layers[1].in_place_of == layers[0].output  # the 1x1 65 -> 65 layer may run in place
    _assert_bit_exact(generated, target, tmp_path)


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_wide_conv_partial_blocks_bit_exact(tmp_path, toolchain, target):
    generated = generate_c(_small_channel_graph(), tmp_path / "gen", weight_format="csr", board="cortex-m4")
    assert len(_wide_layers(generated)) == 8
    _assert_bit_exact(generated, target, tmp_path)


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_wide_conv_checked_requantization_bit_exact(tmp_path, toolchain, target):
    generated = generate_c(_requant_checked_graph(), tmp_path / "gen", weight_format="csr", board="cortex-m4")
    assert [layer.kernel for layer in generated.layers] == [WIDE_CONV_KERNEL]
    assert ".requant.checked = 1" in (generated.out_dir / "model_weights.c").read_text()
    _assert_bit_exact(generated, target, tmp_path)


@pytest.mark.parametrize("target", ["cortex-m7", "cortex-m33", "cortex-m55"])
def test_wide_conv_other_dsp_cores_bit_exact(tmp_path, toolchain, without_sparse_mve, without_dead_channel_elimination,
                                             target):
    generated = generate_c(_wide_graph(), tmp_path / "gen", weight_format="csr", board=target)
    assert len(_wide_layers(generated)) >= 6  # the cost model may send one elsewhere
    _assert_bit_exact(generated, target, tmp_path)


def test_accumulators_beyond_twice_int32_take_another_kernel(tmp_path):
    """A bias of 2^30.5 (twice the accumulator overflows an int32): the layer takes another kernel."""
    rng = np.random.default_rng(24)
    b = GraphBuilder()
    x = b.input((1, 4, 4, 8), scale=0.05, zero_point=-3)
    bias = rng.integers(-300, 300, 4).astype(np.int32)
    bias[2] = 1_500_000_000
    x = b.conv2d(x, _weights(rng, (4, 3, 3, 8), 0.8), 0.004, bias, 0.1, -128, padding="SAME", activation="RELU")
    generated = generate_c(b.build(outputs=[x]), tmp_path / "gen", weight_format="csr", board="cortex-m4")
    assert generated.layers[0].kernel == "pqk_conv2d_s8_csr"
