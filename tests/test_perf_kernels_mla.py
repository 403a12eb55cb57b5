"""Kernels for cores without the DSP extension (pqk_conv2d_s8_smlal, pqk_depthwise_conv2d_s8_mla) against the
reference.

Each graph runs on the host (the kernels' plain-C loops under ASan/UBSan) and on cortex-m3 in QEMU (the
Thumb-2 loops: LDM, SMLAL, MLA). Layers cover 1x1 and 3x3 filters, strides 1 and 2, SAME and VALID padding,
dilation, channel counts 1, 3, 7, 65, 129 and 257 (odd channel pairs, groups of four with tails, a pixel
count that leaves a partial block), in-place chains, activation ranges narrower than int8, channels outside
pqk_dsp.h's fast-requantization bounds (requant.checked), depth multipliers 2 and 8 and rows whose channel
pairs' lanes could overflow (both left to the portable kernels).
"""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.codegen.cost_model import Layout, Target, choose_kernel
from pqk_mcu.codegen.weights import (
    PAIR_LANE_BITS,
    channel_pair_lanes_fit,
    encode_channel_pairs,
    encode_channel_quads,
)
from pqk_mcu.ir.builder import GraphBuilder
from test_perf_kernels import _assert_bit_exact

TARGETS = ["host", "cortex-m3"]
M3 = Target.from_board("cortex-m3")


def _weights(rng, shape):
    return rng.integers(-127, 128, size=shape).astype(np.int8)


def _conv(b, rng, x, out_c, k, **kwargs):
    in_c = b.shape(x)[-1]
    return b.conv2d(x, _weights(rng, (out_c, k, k, in_c)), list(rng.uniform(0.001, 0.004, out_c)),
                    rng.integers(-2000, 2000, out_c).astype(np.int32), 0.1, int(rng.integers(-20, 20)), **kwargs)


def _depthwise(b, rng, x, k, multiplier=1, **kwargs):
    channels = b.shape(x)[-1] * multiplier
    return b.depthwise_conv2d(x, _weights(rng, (1, k, k, channels)), list(rng.uniform(0.002, 0.02, channels)),
                              rng.integers(-300, 300, channels).astype(np.int32), 0.1, int(rng.integers(-20, 20)),
                              **kwargs)


def _conv_graph():
    """3x3 SAME 3 -> 7 channels on an odd pixel count, 1x1 in place 7 -> 7 (ReLU onto all of int8 and a
    narrower clamp), 3x3 stride 2 VALID 7 -> 65, 1x1 65 -> 257 -> 129 -> 1, 2x2 dilation 2 1 -> 3."""
    rng = np.random.default_rng(21)
    b = GraphBuilder()
    x = b.input((1, 7, 5, 3), scale=0.05, zero_point=-3)
    x = _conv(b, rng, x, 7, 3, padding="SAME", activation="RELU")
    x = _conv(b, rng, x, 7, 1, activation="RELU6")
    x = _conv(b, rng, x, 7, 1, activation="RELU")
    x = _conv(b, rng, x, 65, 3, stride=2, padding="VALID", activation="RELU")
    for channels in (257, 129, 1):
        x = _conv(b, rng, x, channels, 1)
    x = _conv(b, rng, x, 3, 2, dilation=2, padding="SAME")
    return b.build(outputs=[x])


def _depthwise_graph():
    """3x3 depthwise SAME in place on 7, 65 and 129 channels (ReLU, a narrow clamp), stride 2 VALID,
    dilation 2, a 5x3 filter, 3 channels; depth multipliers 2 and 8 (the portable kernel)."""
    rng = np.random.default_rng(22)
    b = GraphBuilder()
    x = b.input((1, 6, 5, 7), scale=0.05, zero_point=4)
    x = _depthwise(b, rng, x, 3, padding="SAME", activation="RELU")
    x = _depthwise(b, rng, x, 3, padding="SAME", activation="RELU6")
    x = _conv(b, rng, x, 65, 1, activation="RELU")
    x = _depthwise(b, rng, x, 3, padding="SAME")
    x = _depthwise(b, rng, x, 3, stride=2, padding="VALID")
    x = _conv(b, rng, x, 129, 1)
    x = _depthwise(b, rng, x, 3, dilation=2, padding="SAME", activation="RELU")
    x = _conv(b, rng, x, 3, 1)
    x = _depthwise(b, rng, x, 3, padding="SAME")
    x = _depthwise(b, rng, x, 3, multiplier=2, padding="SAME")
    x = _depthwise(b, rng, x, 3, multiplier=8, stride=2, padding="SAME")
    return b.build(outputs=[x])


def _outside_fast_bounds_graph():
    """Convolution and depthwise layers with a nearly dead channel (shift -31), one that scales up
    (shift > 0) and accumulators beyond 2^30 from huge biases, beside ordinary channels."""
    rng = np.random.default_rng(23)

    def scales(count):
        s = rng.uniform(0.002, 0.01, count)
        s[0], s[1] = 1e-10, 40.0
        return list(s)

    def biases(count):
        bias = rng.integers(-300, 300, count).astype(np.int32)
        bias[2], bias[3] = 1_500_000_000, -1_500_000_000
        return bias

    b = GraphBuilder()
    x = b.input((1, 5, 4, 8), scale=0.05, zero_point=-3)
    x = b.conv2d(x, _weights(rng, (9, 3, 3, 8)), scales(9), biases(9), 0.1, -128, padding="SAME", activation="RELU")
    x = b.depthwise_conv2d(x, _weights(rng, (1, 3, 3, 9)), scales(9), biases(9), 0.1, 5, padding="SAME")
    x = b.conv2d(x, _weights(rng, (6, 1, 1, 9)), scales(6), biases(6), 0.1, 7, stride=2, padding="VALID")
    return b.build(outputs=[x])


def _kernels(generated):
    return [layer.kernel for layer in generated.layers]


@pytest.mark.parametrize("target", TARGETS)
def test_conv_smlal_bit_exact(tmp_path, toolchain, target):
    generated = generate_c(_conv_graph(), tmp_path / "gen", weight_format="dense", board="cortex-m3")
    # the cost model may give the tiny 129 -> 1 layer (774 MACs) to the portable kernel
    kernels = _kernels(generated)
    assert kernels.count("pqk_conv2d_s8_smlal") >= 7 and set(kernels) <= {"pqk_conv2d_s8_smlal", "pqk_conv2d_s8"}
    _assert_bit_exact(generated, target, tmp_path)


@pytest.mark.parametrize("target", TARGETS)
def test_depthwise_mla_bit_exact(tmp_path, toolchain, target):
    generated = generate_c(_depthwise_graph(), tmp_path / "gen", weight_format="dense", board="cortex-m3")
    kernels = _kernels(generated)
    assert kernels.count("pqk_depthwise_conv2d_s8_mla") == 6
    assert kernels[-2:] == ["pqk_depthwise_conv2d_s8"] * 2  # depth multipliers 2 and 8
    _assert_bit_exact(generated, target, tmp_path)


@pytest.mark.parametrize("target", TARGETS)
def test_channels_outside_fast_bounds_run_exactly(tmp_path, toolchain, target):
    generated = generate_c(_outside_fast_bounds_graph(), tmp_path / "gen", weight_format="dense", board="cortex-m3")
    assert _kernels(generated) == ["pqk_conv2d_s8_smlal", "pqk_depthwise_conv2d_s8_mla", "pqk_conv2d_s8_smlal"]
    assert (generated.out_dir / "model_weights.c").read_text().count(".requant.checked = 1") == 3
    _assert_bit_exact(generated, target, tmp_path)


def test_in_place_chain_shares_the_arena(tmp_path):
    """DS-CNN-like blocks: depthwise and pointwise in place, so the arena holds one map and the scratch."""
    rng = np.random.default_rng(24)
    b = GraphBuilder()
    x = b.input((1, 9, 5, 16), scale=0.05, zero_point=-3)
    for _ in range(2):
        x = _depthwise(b, rng, x, 3, padding="SAME", activation="RELU")
        x = _conv(b, rng, x, 16, 1, activation="RELU")
    graph = b.build(outputs=[b.reshape(x, (1, -1))])
    generated = generate_c(graph, tmp_path / "gen", weight_format="dense", board="cortex-m3")
    assert set(_kernels(generated)) - {""} == {"pqk_depthwise_conv2d_s8_mla", "pqk_conv2d_s8_smlal"}
    map_bytes = 9 * 5 * 16
    assert generated.arena_bytes <= map_bytes + 16 + 2 * 5 * 16  # + the depthwise padding row and ring


def test_channel_pair_lanes_separate_exactly():
    """S_even + S_odd * 2^23 from one 64-bit sum gives both rows' sums for the inputs that push the low
    lane to its bounds, as pqk_pair_low() / pqk_pair_high() take it apart."""
    rng = np.random.default_rng(25)
    matrix = _weights(rng, (5, 61))
    matrix[0] = 127 * np.where(rng.random(61) < 0.5, 1, -1)  # the largest row of 61 columns
    assert channel_pair_lanes_fit(matrix)
    words = encode_channel_pairs(matrix).astype(np.int64).reshape(3, 64)
    start = 1 << (PAIR_LANE_BITS - 1)
    signs = np.sign(matrix[0]).astype(np.int64)
    inputs = [np.where(signs > 0, 127, -128), np.where(signs > 0, -128, 127), rng.integers(-128, 128, 61)]
    for x in inputs:
        x = np.concatenate([x, np.zeros(3, dtype=np.int64)])
        for pair in range(3):
            acc = start + int((words[pair] * x).sum())
            low = (acc & ((1 << PAIR_LANE_BITS) - 1)) - start
            high = acc >> PAIR_LANE_BITS
            assert low == int(matrix[2 * pair].astype(np.int64) @ x[:61])
            expected_high = matrix[2 * pair + 1].astype(np.int64) @ x[:61] if 2 * pair + 1 < 5 else 0
            assert high == expected_high
    too_wide = np.full((2, 300), 127, dtype=np.int8)  # 128 * 38,100 >= 2^22
    assert not channel_pair_lanes_fit(too_wide)
    layout = Layout(kind="CONV_2D", positions=16, input_c=300)
    assert choose_kernel(too_wide, "pqk_conv2d_s8", layout, "dense", M3, fast_requant=True).kernel == "pqk_conv2d_s8"


def test_channel_quads_layout():
    matrix = np.arange(6 * 9, dtype=np.int8).reshape(6, 9)  # 6 channels, 9 taps
    quads = encode_channel_quads(matrix).reshape(2, 9, 4)
    assert quads[0, 2].tolist() == matrix[0:4, 2].tolist()
    assert quads[1, 8].tolist() == [matrix[4, 8], matrix[5, 8], 0, 0]


def test_cores_with_dsp_or_without_board_keep_their_kernels(tmp_path):
    for board in (None, "cortex-m4"):
        generated = generate_c(_conv_graph(), tmp_path / str(board), weight_format="dense", board=board)
        assert not any(kernel.endswith(("_smlal", "_mla")) for kernel in _kernels(generated))
