"""pqk_conv2d_s8_csr_wide_smlal (sparse CONV_2D on cores without the DSP extension) against the reference.

Pixel pairs' lanes separate exactly up to the bound the compiler checks; small graphs run bit-exact on the
host (the kernel's plain-C loop under ASan/UBSan) and on cortex-m3 in QEMU (its Thumb-2 SMLAL loop): input
and output channels 1, 3, 7 and 65 (and 129 and 257 in the wide DSP kernel's graph), 1x1 and 3x3 filters, strides 1 and 2, SAME and VALID padding,
sparsities 0.5, 0.9 and 0.99 with rows without nonzeros, two batches (blocks across images), partial
blocks, an in-place pointwise layer, ReLU onto all of int8, no activation and ReLU6 onto part of it, and
channels outside the fast requantization bounds (requant.checked). Rows whose lanes could overflow take
another kernel; DSP cores keep pqk_conv2d_s8_csr_wide_dsp.
"""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.codegen.cost_model import WIDE_CONV_KERNEL, WIDE_SMLAL_CONV_KERNEL, Target, choose_kernel, Layout
from pqk_mcu.codegen.weights import PAIR_LANE_BITS, encode_wide, pixel_pair_lanes_fit
from pqk_mcu.ir.builder import GraphBuilder
from test_perf_kernels import _assert_bit_exact, _weights
from test_perf_sparse_conv import _conv, _wide_graph

TARGETS = ["host", "cortex-m3"]
M3 = Target.from_board("cortex-m3")


def _smlal_graph():
    """Two 9x7 images of 3 channels: 3x3 SAME 3 -> 7 (0.5), 3x3 stride 2 VALID 7 -> 65 (0.9, two empty
    rows), 1x1 65 -> 65 in place (0.99: most rows empty), 3x3 stride 2 SAME 65 -> 7 (0.9), 1x1 stride 2
    SAME 7 -> 3 (0.5), 1x1 65 -> 1 (0.5)."""
    rng = np.random.default_rng(31)
    b = GraphBuilder()
    x = b.input((2, 9, 7, 3), scale=0.05, zero_point=-3)
    x = _conv(b, x, rng, 7, 3, 3, 0.5, "RELU", -128, padding="SAME")  # 126 pixels: a partial block
    y = _conv(b, x, rng, 65, 3, 3, 0.9, "NONE", 3, empty_rows=(0, 64), stride=2, padding="VALID")  # 2x 4x3
    y = _conv(b, y, rng, 65, 1, 1, 0.99, "RELU", -128)
    z = _conv(b, y, rng, 7, 3, 3, 0.9, "RELU6", -20, stride=2, padding="SAME")
    w = _conv(b, x, rng, 3, 1, 1, 0.5, "NONE", 5, stride=2, padding="SAME")
    v = _conv(b, y, rng, 1, 1, 1, 0.5, "RELU", -128)
    return b.build(outputs=[z, w, v])


def _checked_graph():
    """3x3 SAME over 7 channels onto 7 with two channels outside the fast bounds (shift -31, a left
    shift), two batches: the layer requantizes through PQK_FAST_CHECKED."""
    rng = np.random.default_rng(32)
    b = GraphBuilder()
    x = b.input((2, 5, 6, 7), scale=0.05, zero_point=-3)
    scales = list(rng.uniform(0.002, 0.01, 7))
    scales[0], scales[1] = 1e-10, 40.0
    x = b.conv2d(x, _weights(rng, (7, 3, 3, 7), 0.7), scales, rng.integers(-300, 300, 7).astype(np.int32), 0.1,
                 -128, padding="SAME", activation="RELU")
    return b.build(outputs=[x])


def _kernels(generated):
    return [layer.kernel for layer in generated.layers]


@pytest.mark.parametrize("target", TARGETS)
def test_wide_smlal_conv_wide_channel_counts_bit_exact(tmp_path, toolchain, without_dead_channel_elimination, target):
    """pqk_conv2d_s8_csr_wide_dsp's graph of input channels 1, 3, 7, 65, 129 and 257 (10x8, 5x5, dilated 2x5
    and 1x1 filters) on cortex-m3."""
    generated = generate_c(_wide_graph(), tmp_path / "gen", weight_format="csr", board="cortex-m3")
    assert _kernels(generated).count(WIDE_SMLAL_CONV_KERNEL) >= 4, _kernels(generated)
    _assert_bit_exact(generated, target, tmp_path)


@pytest.mark.parametrize("target", TARGETS)
def test_wide_smlal_conv_bit_exact(tmp_path, toolchain, without_dead_channel_elimination, target):
    generated = generate_c(_smlal_graph(), tmp_path / "gen", weight_format="csr", board="cortex-m3")
    assert _kernels(generated).count(WIDE_SMLAL_CONV_KERNEL) >= 5  # the cost model may send one elsewhere
    _assert_bit_exact(generated, target, tmp_path)


@pytest.mark.parametrize("target", TARGETS)
def test_wide_smlal_conv_checked_requantization_bit_exact(tmp_path, toolchain, target):
    generated = generate_c(_checked_graph(), tmp_path / "gen", weight_format="csr", board="cortex-m3")
    assert _kernels(generated) == [WIDE_SMLAL_CONV_KERNEL]
    assert ".requant.checked = 1" in (generated.out_dir / "model_weights.c").read_text()
    _assert_bit_exact(generated, target, tmp_path)


def test_pixel_pair_lanes_separate_exactly():
    """x_even + x_odd * 2^23 times twice the weights, summed from 0 in 64 bits, gives both pixels' doubled
    sums for the inputs that push the low lane to its bounds, as pqk_pair_low_from_zero() /
    pqk_pair_high_from_zero() take it apart (the low lane sign-extended, the borrow added back above)."""
    rng = np.random.default_rng(33)
    row = (127 * np.where(rng.random(64) < 0.5, 1, -1)).astype(np.int64)
    row[:3] = [100, -99, 11]
    assert 256 * np.abs(row).sum() < 1 << (PAIR_LANE_BITS - 1)
    assert pixel_pair_lanes_fit(row[None, :])
    signs = np.sign(row)
    lane = 1 << PAIR_LANE_BITS
    for even, odd in ((np.where(signs > 0, 127, -128), np.where(signs > 0, -128, 127)),
                      (np.where(signs > 0, -128, 127), rng.integers(-128, 128, 64))):
        words = even + (odd << PAIR_LANE_BITS)
        assert np.all(np.abs(words) < 1 << 31)  # one int32 each
        acc = int((2 * row * words).sum())
        low = (acc + lane // 2) % lane - lane // 2
        assert low == 2 * int(row @ even)
        assert (acc >> PAIR_LANE_BITS) + (low < 0) == 2 * int(row @ odd)


def test_rows_beyond_the_lanes_take_another_kernel():
    """256 * sum |w| of 2^22 or more (the even pixel's lane could overflow): not offered."""
    matrix = np.zeros((2, 300), dtype=np.int8)
    matrix[:, :130] = 127  # 256 * 16,510 >= 2^22
    assert not pixel_pair_lanes_fit(matrix) and pixel_pair_lanes_fit(matrix[:, :128])
    wide = encode_wide(matrix, [0, 0], [1 << 30] * 2, [-3, -3], 0)
    layout = Layout(kind="CONV_2D", positions=64, input_c=300)
    kernel = choose_kernel(matrix, "pqk_conv2d_s8", layout, "csr", M3, fast_requant=True, wide=wide).kernel
    assert kernel != WIDE_SMLAL_CONV_KERNEL
    fitting = matrix[:, :128].copy()
    fitting[:, 1::2] = 0
    wide = encode_wide(fitting, [0, 0], [1 << 30] * 2, [-3, -3], 0)
    layout = Layout(kind="CONV_2D", positions=64, input_c=128)
    assert choose_kernel(fitting, "pqk_conv2d_s8", layout, "csr", M3, fast_requant=True, wide=wide).kernel == \
        WIDE_SMLAL_CONV_KERNEL


def test_dsp_cores_keep_the_dsp_kernel(tmp_path):
    generated = generate_c(_checked_graph(), tmp_path / "gen", weight_format="csr", board="cortex-m4")
    assert _kernels(generated) == [WIDE_CONV_KERNEL]
