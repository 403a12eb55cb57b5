"""Sparse Helium (MVE) kernels (*_csr_mve.c, pqk_conv2d_s8_csr_taps_mve.c) of cortex-m55 against the
reference, bit for bit (the convolutions by both CONV_2D kernels).

Host gcc cannot run MVE (the *_mve files compile to nothing there), so the kernels run only in QEMU
(mps3-an547, cortex-m55), on small pruned graphs that cover their branches: odd channel counts (1, 3, 7,
65, 129, 257) that leave partial chunks of eight gathered nonzeros, partial groups of four FC rows and
partial four-pixel blocks; strides 1 and 2, SAME and VALID padding (windows read from zero-point
bands), dilation; depth multipliers 1, 2 and 8; an in-place pointwise layer; FC inputs beyond one
256-feature panel; sparsities 0.5, 0.9 and 0.99 (rows, channels and FC groups without nonzeros);
activation ranges narrower than int8 and without a clamp at the zero point (the general vector
requantization); channels outside pqk_dsp.h's fast requantization bounds.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.codegen.cost_model import (
    KERNEL_COSTS,
    Layout,
    Target,
    _group_chunks,
    choose_kernel,
    estimate_instructions,
)
from pqk_mcu.codegen.weights import (
    conv_column_offsets,
    depthwise_offsets,
    encode_gather,
    encode_gather_rows,
    encode_gather_taps,
)
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.ir.prune import prune_by_magnitude
from test_perf_kernels import _assert_bit_exact, _weights
from test_perf_kernels_any_layer import _outside_fast_bounds_graph
from test_perf_kernels_mve import _conv_graph

BOARD = "cortex-m55"
CONV, DEPTHWISE, FC = "pqk_conv2d_s8_csr_mve", "pqk_depthwise_conv2d_s8_csr_mve", "pqk_fully_connected_s8_csr_mve"
TAPS = "pqk_conv2d_s8_csr_taps_mve"


def _depthwise_graph(sparsity: float):
    """Depthwise 3x3 over 3 channels SAME stride 1, multiplier 2 VALID stride 2, multiplier 8 5x5 SAME;
    17 channels SAME dilation 2, 65 channels SAME stride 2 without a clamp at the zero point."""
    rng = np.random.default_rng(31)
    b = GraphBuilder()
    source = b.input((1, 7, 6, 3), scale=0.05, zero_point=-3)
    outputs = []
    for multiplier, kernel, stride, padding, activation in ((1, 3, 1, "SAME", "RELU"), (2, 3, 2, "VALID", "NONE"),
                                                            (8, 5, 1, "SAME", "RELU6")):
        channels = 3 * multiplier
        outputs.append(b.depthwise_conv2d(
            source, _weights(rng, (1, kernel, kernel, channels), sparsity), list(rng.uniform(0.002, 0.02, channels)),
            rng.integers(-300, 300, channels).astype(np.int32), 0.05, -128 if activation == "RELU" else 4,
            stride=stride, padding=padding, activation=activation))
    x = b.conv2d(source, _weights(rng, (17, 1, 1, 3), 0.0), 0.004, None, 0.08, -128, activation="RELU")
    x = b.depthwise_conv2d(x, _weights(rng, (1, 3, 3, 17), sparsity), list(rng.uniform(0.002, 0.02, 17)), None,
                           0.05, -128, padding="SAME", dilation=2, activation="RELU")
    x = b.conv2d(x, _weights(rng, (65, 1, 1, 17), 0.0), 0.004, None, 0.08, -128, activation="RELU")
    outputs.append(b.depthwise_conv2d(x, _weights(rng, (1, 3, 3, 65), sparsity), list(rng.uniform(0.002, 0.02, 65)),
                                      None, 0.05, 2, stride=2, padding="SAME", activation="NONE"))
    return b.build(outputs=outputs)


def _fully_connected_graph(sparsity: float, batches: int):
    """FC layers of 640 (three panels of 256), 257, 129, 65, 7, 3 and 1 features onto 257, 129, 65, 7, 3, 1
    and 5 outputs, per-channel and per-tensor weights, ReLU onto part of int8 and no activation."""
    rng = np.random.default_rng(32)
    b = GraphBuilder()
    x = b.input((batches, 640), scale=0.05, zero_point=-3)
    for features, outputs, per_channel, activation in ((640, 257, True, "RELU"), (257, 129, False, "NONE"),
                                                       (129, 65, True, "RELU6"), (65, 7, True, "NONE"),
                                                       (7, 3, False, "RELU"), (3, 1, True, "NONE"),
                                                       (1, 5, True, "NONE")):
        scale = list(rng.uniform(0.002, 0.01, outputs)) if per_channel else 0.004
        x = b.fully_connected(x, _weights(rng, (outputs, features), sparsity), scale,
                              rng.integers(-2000, 2000, outputs).astype(np.int32), 0.2, int(rng.integers(-20, 20)),
                              activation=activation)
    return b.build(outputs=[x])


def _narrow_graph(sparsity: float, wide: bool):
    """Two images one pixel wide (a block of four pixels spans four output rows, and images): CONV_2D
    3x3 SAME 3 -> 5, DEPTHWISE_CONV_2D 3x3 SAME stride 2, CONV_2D 1x4 SAME (a window row wider than
    the image); or (wide) three images two pixels wide: DEPTHWISE_CONV_2D 2x2 VALID."""
    rng = np.random.default_rng(33)
    b = GraphBuilder()
    if wide:
        y = b.input((3, 5, 2, 6), scale=0.05, zero_point=2)
        return b.build(outputs=[b.depthwise_conv2d(y, _weights(rng, (1, 2, 2, 6), sparsity),
                                                   list(rng.uniform(0.002, 0.02, 6)), None, 0.05, -128,
                                                   padding="VALID", activation="RELU")])
    x = b.input((2, 9, 1, 3), scale=0.05, zero_point=-3)
    x = b.conv2d(x, _weights(rng, (5, 3, 3, 3), sparsity), list(rng.uniform(0.002, 0.01, 5)),
                 rng.integers(-500, 500, 5).astype(np.int32), 0.08, -128, padding="SAME", activation="RELU")
    x = b.depthwise_conv2d(x, _weights(rng, (1, 3, 3, 5), sparsity), list(rng.uniform(0.002, 0.02, 5)), None,
                           0.05, -128, stride=2, padding="SAME", activation="RELU")
    x = b.conv2d(x, _weights(rng, (6, 1, 4, 5), sparsity), list(rng.uniform(0.002, 0.01, 6)), None, 0.08, 4,
                 padding="SAME", activation="NONE")
    return b.build(outputs=[x])


def _kernels(generated):
    return [layer.kernel for layer in generated.layers if layer.kernel]


@pytest.fixture
def forced(monkeypatch, request):
    """The sparse Helium kernels on every layer they can run (the cost model would give tiny layers to others);
    CONV_2D by pqk_conv2d_s8_csr_mve, or by the kernel a test parametrizes it with. Returns that kernel."""
    conv = getattr(request, "param", CONV)
    for kernel in (conv, DEPTHWISE, FC):
        monkeypatch.setitem(KERNEL_COSTS, kernel, dataclasses.replace(KERNEL_COSTS[kernel], per_call=-1e9))
    return conv


@pytest.mark.parametrize("forced", [CONV, TAPS], indirect=True)
@pytest.mark.parametrize("sparsity", [0.5, 0.9, 0.99])
def test_convolutions_bit_exact(tmp_path, toolchain, forced, without_dead_channel_elimination, sparsity):
    generated = generate_c(_conv_graph(sparsity), tmp_path / "gen", weight_format="csr", board=BOARD)
    # the last layer's 5x5 window is wider than its 3-pixel rows: its windows read bands wider than the input
    assert _kernels(generated) == [forced] * 6
    if sparsity == 0.9:  # the 129 -> 129 pointwise layer runs in place
        calls = [line.split("(", 1)[1].split(", ") for line in (generated.out_dir / "model.c").read_text().splitlines()
                 if line.strip().startswith(forced + "(")]
        assert any(args[2] == args[3] for args in calls)
    _assert_bit_exact(generated, BOARD, tmp_path)


@pytest.mark.parametrize("sparsity", [0.5, 0.9, 0.99])
def test_depthwise_bit_exact(tmp_path, toolchain, forced, sparsity):
    generated = generate_c(_depthwise_graph(sparsity), tmp_path / "gen", weight_format="csr", board=BOARD)
    assert _kernels(generated).count(DEPTHWISE) == 5
    _assert_bit_exact(generated, BOARD, tmp_path)


@pytest.mark.parametrize("forced", [CONV, TAPS], indirect=True)
@pytest.mark.parametrize("sparsity,wide", [(0.5, False), (0.9, False), (0.5, True)])
def test_bands_of_narrow_images(tmp_path, toolchain, forced, sparsity, wide):
    generated = generate_c(_narrow_graph(sparsity, wide), tmp_path / "gen", weight_format="csr", board=BOARD)
    assert _kernels(generated) == ([DEPTHWISE] if wide else [forced, DEPTHWISE, forced])
    _assert_bit_exact(generated, BOARD, tmp_path)


@pytest.mark.parametrize("sparsity,batches", [(0.5, 1), (0.9, 2), (0.99, 3)])
def test_fully_connected_bit_exact(tmp_path, toolchain, forced, sparsity, batches):
    generated = generate_c(_fully_connected_graph(sparsity, batches), tmp_path / "gen", weight_format="csr",
                           board=BOARD)
    assert _kernels(generated) == [FC] * 7
    _assert_bit_exact(generated, BOARD, tmp_path)


@pytest.mark.parametrize("forced", [CONV, TAPS], indirect=True)
def test_channels_outside_fast_bounds(tmp_path, toolchain, forced):
    graph = prune_by_magnitude(_outside_fast_bounds_graph(), 0.7)
    generated = generate_c(graph, tmp_path / "gen", weight_format="csr", board=BOARD)
    assert _kernels(generated) == [forced, DEPTHWISE, forced, FC]
    assert (generated.out_dir / "model_weights.c").read_text().count(".requant.checked = 1") == 4
    _assert_bit_exact(generated, BOARD, tmp_path)


def test_gather_layouts():
    matrix = np.zeros((3, 2 * 2 * 3), dtype=np.int8)
    matrix[0, [1, 5, 11]] = [5, -7, 9]  # row 1 empty; row 2 has nine nonzeros: two chunks
    matrix[2, :9] = np.arange(1, 10)
    offsets = conv_column_offsets(2, 2, 1, 1, input_w=4, input_c=3)
    assert offsets.tolist() == [0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17]
    gather = encode_gather(matrix, offsets[None, :])
    assert gather.row_chunks.tolist() == [1, 0, 2]
    chunk = gather.chunks[:12]
    assert chunk[:8].tolist() == [1, 5, 17, 0, 0, 0, 0, 0]
    assert chunk[8:].view(np.int8).tolist() == [5, -7, 9, 0, 0, 0, 0, 0]
    assert gather.value_bytes == 3 * 8 and gather.index_bytes == 3 * 16 + 3
    assert encode_gather(matrix, offsets[None, :] + 0x10000) is None  # beyond the uint16 offsets

    depthwise = np.array([[0, 3, 0, 0], [0, 0, 0, 0], [-2, 0, 0, 4]], dtype=np.int8)  # 2x2 taps, multiplier 3
    taps = encode_gather_taps(depthwise, depthwise_offsets(3, 3, 2, 2, 1, 1, input_w=5, input_c=1))
    assert taps.row_taps.tolist() == [1, 0, 2]
    assert taps.taps.tolist() == [1, 3, 0, -2, 6, 4]  # (offset, weight): tap (0, 1); taps (0, 0) and (1, 1)

    rows = np.zeros((5, 300), dtype=np.int8)
    rows[0, [2, 260]] = [1, 2]  # one nonzero in each panel; rows 1-3 empty; row 4: group 1
    rows[4, :17] = 3  # 17 nonzeros: two chunks
    encoded = encode_gather_rows(rows)
    assert encoded.group_chunks.tolist() == [1, 1]  # group 0: one chunk per panel; group 1: two in panel 0
    words = encoded.chunks.view(np.uint8)
    assert encoded.chunks[0] == 0 and words[4:6].tolist() == [2, 0] and words[20] == 1  # row 0, panel 0
    assert encoded.chunks[33] == 256 and words[33 * 4 + 4] == 4  # panel 1 from feature 256: offset 4
    assert _group_chunks(rows) == 4 and _group_chunks(np.zeros((3, 2), dtype=np.int8)) == 1


def test_sparse_kernels_chosen_only_with_mve():
    rng = np.random.default_rng(33)
    matrix = _weights(rng, (64, 64), 0.9)
    layout = Layout(kind="CONV_2D", positions=125, input_c=64, input_w=5, input_h=25, padded_h=25, padded_w=5)
    gather = encode_gather(matrix, conv_column_offsets(1, 1, 1, 1, 5, 64)[None, :])
    mve = Target(has_dsp=True, thumb2=True, has_mve=True)
    assert choose_kernel(matrix, "pqk_conv2d_s8", layout, "auto", mve, True, gather=gather).kernel == CONV
    dsp = Target(has_dsp=True, thumb2=True)
    assert choose_kernel(matrix, "pqk_conv2d_s8", layout, "auto", dsp, True, gather=gather).kernel != CONV
    assert estimate_instructions(CONV, matrix, layout, True) < estimate_instructions("pqk_conv2d_s8_mve", matrix,
                                                                                     layout, False)


def test_rows_with_few_nonzeros_take_the_taps_kernel():
    """A 1x1 8 -> 16 at 90% (about one nonzero per row): a nonzero at a time beats chunks of eight."""
    rng = np.random.default_rng(34)
    matrix = _weights(rng, (16, 8), 0.9)
    layout = Layout(kind="CONV_2D", positions=48 * 48, input_c=8, input_w=48, input_h=48, padded_h=48, padded_w=48)
    gather = encode_gather(matrix, conv_column_offsets(1, 1, 1, 1, 48, 8)[None, :])
    mve = Target(has_dsp=True, thumb2=True, has_mve=True)
    assert choose_kernel(matrix, "pqk_conv2d_s8", layout, "auto", mve, True, gather=gather).kernel == TAPS
