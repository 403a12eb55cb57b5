"""The depthwise DSP kernels against the reference, on the host (plain-C fallbacks under ASan/UBSan) and on
cortex-m4 in QEMU (the real instructions and pqk_depthwise_conv2d_s8_dsp's assembly tap walk).

pqk_depthwise_conv2d_s8_dsp on channel counts that are and are not multiples of four (the scalar tail),
strides 1 and 2, SAME and VALID, dilation, 3x3 and 5x3 filters, layers run in place over their own input
(stride 1 and 2), every requantization mode and channels outside the fast bounds; the packed
pqk_depthwise_conv2d_s8_csr_dsp on a layer whose right shifts spread over eight values (shift codes in the
record) with rows of zero, one and several nonzeros.
"""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.codegen.weights import encode_channel_quads_s16, encode_packed
from pqk_mcu.ir.builder import GraphBuilder
from test_perf_kernels import _assert_bit_exact, _unpack_multiplier_shift, _unpack_records

TARGETS = ["host", "cortex-m4"]


def _dense_chain_graph(channels: int):
    """Depthwise layers over ``channels`` channels, only the last an output (the others run in place where
    they can): 3x3 SAME ReLU onto all of int8; 3x3 SAME with dilation 2 along the width, a clamp narrower than
    int8 and channels outside the fast bounds (shift -31, shift > 0, a bias near 2^30.5); 5x3 VALID without
    activation; 3x3 SAME with dilation 2 both ways; 3x3 stride 2 SAME, a narrower clamp; 3x3 stride 2 VALID."""
    rng = np.random.default_rng(channels)

    def scales(outside: bool = False):
        s = rng.uniform(0.002, 0.02, channels)
        if outside:
            s[0] = 1e-10
            s[-1] = 40.0
        return list(s)

    def bias(outside: bool = False):
        b = rng.integers(-3000, 3000, channels).astype(np.int32)
        if outside and channels > 2:
            b[1] = 1_500_000_000
        return b

    def weights(k_h, k_w):
        return rng.integers(-127, 128, (1, k_h, k_w, channels)).astype(np.int8)

    b = GraphBuilder()
    x = b.input((1, 11, 9, channels), scale=0.05, zero_point=-3)
    x = b.depthwise_conv2d(x, weights(3, 3), scales(), bias(), 6 / 255, -128, padding="SAME", activation="RELU")
    x = b.depthwise_conv2d(x, weights(3, 3), scales(True), bias(True), 0.05, 5, padding="SAME", dilation=(1, 2),
                           activation="RELU6")
    x = b.depthwise_conv2d(x, weights(5, 3), scales(), bias(), 0.1, -7, padding="VALID")
    x = b.depthwise_conv2d(x, weights(3, 3), scales(), bias(), 0.1, -20, padding="SAME", dilation=2,
                           activation="RELU")
    x = b.depthwise_conv2d(x, weights(3, 3), scales(), bias(), 0.05, 3, stride=2, padding="SAME",
                           activation="RELU6")
    x = b.depthwise_conv2d(x, weights(3, 3), scales(), bias(), 6 / 255, -128, stride=2, padding="VALID",
                           activation="RELU")
    return b.build(outputs=[x])


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("channels", [3, 4, 8, 12, 64, 65, 68])
def test_dense_depthwise_dsp_bit_exact(tmp_path, toolchain, target, channels):
    generated = generate_c(_dense_chain_graph(channels), tmp_path / "gen", weight_format="dense", board="cortex-m4")
    assert [layer.kernel for layer in generated.layers] == ["pqk_depthwise_conv2d_s8_dsp"] * 6
    assert (generated.out_dir / "model_weights.c").read_text().count(".requant.checked = 1") == 1
    # in place: the largest activation (11 x 9 x channels, the first three layers') is never held twice
    assert generated.arena_bytes < 2 * 11 * 9 * channels
    _assert_bit_exact(generated, target, tmp_path)


def test_channel_quads_s16_layout():
    matrix = np.arange(-30, 24, dtype=np.int8).reshape(6, 9)  # six channels, nine taps
    words = encode_channel_quads_s16(matrix).astype(np.int64).reshape(2, 9, 2)
    low, high = (words << 48 >> 48), words >> 16  # the signed halfwords
    # group 0, tap 4: (w0, w2) and (w1, w3) of channels 0-3
    assert [low[0, 4, 0], high[0, 4, 0], low[0, 4, 1], high[0, 4, 1]] == [matrix[0, 4], matrix[2, 4], matrix[1, 4],
                                                                          matrix[3, 4]]
    # group 1 holds channels 4 and 5, channels 6 and 7 are zero
    assert [low[1, 8, 0], low[1, 8, 1], high[1, 8, 0], high[1, 8, 1]] == [matrix[4, 8], matrix[5, 8], 0, 0]


def _wide_shift_depthwise_graph():
    """Sparse depthwise layers whose per-channel scales span a factor of 200 (right shifts over eight values:
    the packed format's three high code bits): channels without nonzeros, with one and with several; SAME
    stride 1 (in place; ReLU onto all of int8, then a narrower clamp) and VALID stride 2."""
    rng = np.random.default_rng(31)
    channels = 12
    b = GraphBuilder()
    x = b.input((1, 7, 6, channels), scale=0.05, zero_point=-3)
    for stride, padding, activation, zero_point in ((1, "SAME", "RELU", -128), (1, "SAME", "RELU6", 4),
                                                    (2, "VALID", "NONE", -3)):
        weights = np.zeros((1, 3, 3, channels), dtype=np.int8)
        for c in range(channels):
            for tap in rng.choice(9, size=c % 4, replace=False):  # 0, 1, 2 or 3 nonzeros
                weights[0, tap // 3, tap % 3, c] = rng.integers(1, 128) * rng.choice([-1, 1])
        scales = 0.0001 * 1.9 ** np.arange(channels)  # shifts spread over eight values
        x = b.depthwise_conv2d(x, weights, list(scales), rng.integers(-300, 300, channels).astype(np.int32), 0.05,
                               zero_point, stride=stride, padding=padding, activation=activation)
    return b.build(outputs=[x])


@pytest.mark.parametrize("target", TARGETS)
def test_packed_depthwise_wide_shift_spread_bit_exact(tmp_path, toolchain, target):
    generated = generate_c(_wide_shift_depthwise_graph(), tmp_path / "gen", weight_format="csr", board="cortex-m4")
    assert {layer.kernel for layer in generated.layers} == {"pqk_depthwise_conv2d_s8_csr_dsp"}
    assert (generated.out_dir / "model_weights.c").read_text().count(".info_bits = 11") == 3
    _assert_bit_exact(generated, target, tmp_path)


def test_packed_depthwise_shift_codes_round_trip():
    """Right shifts 1 .. 9 apart: each tapped row's code is its record's high bits and its word's low bits."""
    rng = np.random.default_rng(2)
    matrix = np.zeros((10, 9), dtype=np.int8)
    for row in range(9):
        matrix[row, rng.choice(9, size=1 + row % 3, replace=False)] = rng.integers(1, 128)
    shift = -np.arange(1, 11)  # row 9 has no nonzeros: no multiplier, no code
    multiplier = rng.integers(1 << 30, 1 << 31, 10)
    bias = rng.integers(-1000, 1000, 10)
    packed = encode_packed(matrix, True, bias, multiplier, shift, constant_outputs=np.full(10, -5))
    assert packed.info_bits == 11 and packed.right_shift_base == 1
    unpacked_bias, info = _unpack_records(packed)
    m, s = _unpack_multiplier_shift(packed)  # the words' two low code bits only
    code = (-s - packed.right_shift_base) + 4 * (info[:9] >> 8)
    assert code.tolist() == list(range(9)) and m.tolist() == multiplier[:9].tolist()
    assert ((info >> 4) & 15).tolist() == [1, 2, 3, 1, 2, 3, 1, 2, 3, 0] and unpacked_bias[9] == -5
    assert encode_packed(matrix, True, bias, multiplier, np.append(-np.arange(1, 10), -40),
                         constant_outputs=np.zeros(10)) is not None  # row 9 has no multiplier: any shift
    matrix[9, 0] = 1
    assert encode_packed(matrix, True, bias, multiplier, -np.arange(1, 50, 5),
                         constant_outputs=np.zeros(10)) is None  # 45 apart
