"""Convolutions that write each block of output pixels after reading its inputs, always forward, run over
their own input with the output ahead of it, bit for bit.

The memory plan may place such a kernel's output up to ``memory.write_lead(..., backward=False)`` bytes
before its input (cost_model.FORWARD_WRITE_BLOCKS): the Helium (MVE) convolutions of cortex-m55
(pqk_conv2d_s8_mve: two pixels a block, the gathering ones: four) and pqk_conv2d_s8_smlal of cortex-m3
(two); pqk_depthwise_conv2d_s8_mla runs over its input through its ring of input rows whatever the
stride. Two batches of odd-sized planes and odd channel counts through layers that do: a 1x1 conv that
widens the channels, a 3x3 SAME conv (output a row ahead), a strided depthwise, another widening 1x1, a
depthwise SAME stride 1 and one with multiplier 2 VALID stride (2, 1), a 5x3 SAME conv with stride
(1, 2); dense, and sparse by both gathering CONV_2D kernels. Host gcc cannot run MVE: the cortex-m55
kernels run in QEMU (mps3-an547) only, the cortex-m3 ones on the host (ASan/UBSan) and in QEMU. The portable
pqk_depthwise_conv2d_s8_csr (sparse depthwise on cortex-m3) runs over its input through a ring of output rows.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pqk_mcu.codegen import generate, generate_c
from pqk_mcu.codegen.cost_model import KERNEL_COSTS, Target
from pqk_mcu.codegen.generate import core_graph, memory_request
from pqk_mcu.codegen.lower import lower_graph
from pqk_mcu.codegen.memory import plan_every_pair, write_lead
from pqk_mcu.ir.builder import GraphBuilder
from test_perf_kernels import _assert_bit_exact, _weights

BOARD = "cortex-m55"
CONV, TAPS, DEPTHWISE = "pqk_conv2d_s8_csr_mve", "pqk_conv2d_s8_csr_taps_mve", "pqk_depthwise_conv2d_s8_csr_mve"
SMLAL, MLA_DEPTHWISE = "pqk_conv2d_s8_smlal", "pqk_depthwise_conv2d_s8_mla"


def _forward_graph(sparsity: float):
    rng = np.random.default_rng(41)
    b = GraphBuilder()

    def conv(x, k_h, k_w, c_out, **attrs):
        c_in = b.shape(x)[3]
        return b.conv2d(x, _weights(rng, (c_out, k_h, k_w, c_in), sparsity), list(rng.uniform(0.002, 0.01, c_out)),
                        rng.integers(-900, 900, c_out).astype(np.int32), 0.2, int(rng.integers(-20, 20)), **attrs)

    def depthwise(x, multiplier, **attrs):
        channels = b.shape(x)[3] * multiplier
        return b.depthwise_conv2d(x, _weights(rng, (1, 3, 3, channels), sparsity),
                                  list(rng.uniform(0.002, 0.02, channels)),
                                  rng.integers(-300, 300, channels).astype(np.int32), 0.1, 2, **attrs)

    x = b.input((2, 13, 9, 5), scale=0.05, zero_point=-3)
    x = conv(x, 3, 3, 7, padding="SAME", activation="RELU")
    x = conv(x, 1, 1, 13)  # widens: the output ends where its input ends
    x = conv(x, 3, 3, 13, padding="SAME", activation="RELU")  # a row ahead
    x = depthwise(x, 1, stride=2, padding="SAME")
    x = conv(x, 1, 1, 21, activation="RELU")
    x = depthwise(x, 1, padding="SAME", activation="RELU")
    x = depthwise(x, 2, stride=(2, 1), padding="VALID")
    x = conv(x, 5, 3, 3, stride=(1, 2), padding="SAME")
    return b.build(outputs=[conv(x, 1, 1, 4)])


@pytest.fixture
def forced(monkeypatch, request):
    """The sparse Helium kernels on every layer they can run (the cost model gives tiny layers to others):
    CONV_2D by the kernel the test parametrizes."""
    for kernel in (request.param, DEPTHWISE):
        monkeypatch.setitem(KERNEL_COSTS, kernel, dataclasses.replace(KERNEL_COSTS[kernel], per_call=-1e9))
    return request.param


def _generate_over_input(graph, board: str, weight_format: str, over_input: dict[int, str], tmp_path, monkeypatch):
    """The C of ``graph`` with every in-place pair the plan may take (``plan_every_pair``: the arena's
    own plan drops some here), after checking that the layers of ``over_input`` (index -> kernel) and
    no others run over their own input, the widening 1x1 and the 3x3 conv ahead of it."""
    core = core_graph(graph)
    layers, _ = lower_graph(core, weight_format, Target.from_board(board))
    plan = plan_every_pair(memory_request(core, layers))
    assert {layer.index: layer.kernel for layer in layers if layer.output in plan.in_place} == over_input
    for layer in layers:
        if layer.output in plan.in_place:
            lead = plan.placements[layer.in_place_of].offset - plan.placements[layer.output].offset
            assert lead == layer.in_place_lead >= 0 and (lead > 0 or layer.index > 2)
    monkeypatch.setattr(generate, "plan_memory", plan_every_pair)
    return generate_c(graph, tmp_path / "gen", weight_format=weight_format, board=board)


@pytest.mark.parametrize("forced", [CONV, TAPS], indirect=True)
def test_sparse_helium_convolutions_run_ahead_of_their_input(tmp_path, toolchain, monkeypatch, forced):
    over_input = {1: forced, 2: forced, 3: DEPTHWISE, 4: forced, 5: DEPTHWISE, 6: DEPTHWISE, 7: forced}
    generated = _generate_over_input(_forward_graph(0.6), BOARD, "csr", over_input, tmp_path, monkeypatch)
    _assert_bit_exact(generated, BOARD, tmp_path)


def test_dense_helium_convolutions_run_ahead_of_their_input(tmp_path, toolchain, monkeypatch):
    over_input = dict.fromkeys((1, 2, 4, 7), "pqk_conv2d_s8_mve")  # pqk_depthwise_conv2d_s8_mve does not
    generated = _generate_over_input(_forward_graph(0.0), BOARD, "dense", over_input, tmp_path, monkeypatch)
    _assert_bit_exact(generated, BOARD, tmp_path)


@pytest.mark.parametrize("target", ["host", "cortex-m3"])
def test_cortex_m3_kernels_run_ahead_of_their_input(tmp_path, toolchain, monkeypatch, target):
    """pqk_conv2d_s8_smlal ahead of its input, pqk_depthwise_conv2d_s8_mla over it through its ring of
    input rows, strided too (the 5x3 conv and the multiplier-2 depthwise take the portable kernels)."""
    over_input = {1: SMLAL, 2: SMLAL, 3: MLA_DEPTHWISE, 4: SMLAL, 5: MLA_DEPTHWISE}
    generated = _generate_over_input(_forward_graph(0.0), "cortex-m3", "dense", over_input, tmp_path, monkeypatch)
    _assert_bit_exact(generated, target, tmp_path)


def test_forward_only_lead_of_a_widening_pointwise_conv():
    window = dataclasses.make_dataclass("Window", ["filter_h", "filter_w", "stride_h", "stride_w", "dilation_h",
                                                   "dilation_w", "pad_top", "pad_left"])(1, 1, 1, 1, 1, 1, 0, 0)
    # backward: one alignment step after the input; forward: before it by the growth of the pixels up to the
    # last block (24 of 25), whose writes follow every read
    assert write_lead((1, 5, 5, 8), (1, 5, 5, 16), window, block=4) == -4
    assert write_lead((1, 5, 5, 8), (1, 5, 5, 16), window, block=4, backward=False) == 24 * 8


PORTABLE_DEPTHWISE = "pqk_depthwise_conv2d_s8_csr"


def _portable_depthwise_graph():
    """Sparse depthwise layers over two batches of odd planes and channels: SAME dilated, VALID, multiplier 2
    with stride 2 (an output row just shorter than an input row), SAME stride 2, SAME; then multiplier 2
    at stride 1, whose output rows are longer than its input rows (not in place: no scratch)."""
    rng = np.random.default_rng(43)
    b = GraphBuilder()

    def depthwise(x, multiplier, **attrs):
        channels = b.shape(x)[3] * multiplier
        return b.depthwise_conv2d(x, _weights(rng, (1, 3, 3, channels), 0.6), list(rng.uniform(0.002, 0.02, channels)),
                                  rng.integers(-300, 300, channels).astype(np.int32), 0.1, 2, **attrs)

    x = b.input((2, 13, 11, 7), scale=0.05, zero_point=-3)
    x = b.conv2d(x, _weights(rng, (7, 3, 3, 7), 0.6), list(rng.uniform(0.002, 0.01, 7)),
                 rng.integers(-900, 900, 7).astype(np.int32), 0.2, 5, padding="SAME")
    x = depthwise(x, 1, padding="SAME", dilation=2, activation="RELU")
    x = depthwise(x, 1, padding="VALID")
    x = depthwise(x, 2, stride=2, padding="VALID")
    x = depthwise(x, 1, stride=2, padding="SAME", activation="RELU")
    x = depthwise(x, 1, padding="SAME")
    return b.build(outputs=[depthwise(x, 2, padding="SAME")])


@pytest.mark.parametrize("target", ["host", "cortex-m3"])
def test_portable_sparse_depthwise_runs_over_its_input(tmp_path, toolchain, monkeypatch, target):
    """pqk_depthwise_conv2d_s8_csr over its input: each output row waits in its ring of pad_top + 1 output
    rows until the input rows under it are read."""
    graph = _portable_depthwise_graph()
    core = core_graph(graph)
    layers, _ = lower_graph(core, "csr", Target.from_board("cortex-m3"))
    plan = plan_every_pair(memory_request(core, layers))
    assert [layer.kernel for layer in layers[1:]] == [PORTABLE_DEPTHWISE] * 6
    assert [layer.index for layer in layers if layer.output in plan.in_place] == [1, 2, 3, 4, 5]
    assert layers[6].scratch_bytes == 0 and "NULL" in layers[6].calls[-1].args
    monkeypatch.setattr(generate, "plan_memory", plan_every_pair)
    generated = generate_c(graph, tmp_path / "gen", weight_format="csr", board="cortex-m3")
    _assert_bit_exact(generated, target, tmp_path)
