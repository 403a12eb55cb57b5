"""Helium (MVE) convolutions of cortex-m55 run over their own input, output ahead of it, bit for bit.

The *_mve convolutions compute a block of output pixels (pqk_conv2d_s8_mve: two, the gathering ones:
four) from their inputs before writing it, always forward, so the memory plan may place their output
up to ``memory.write_lead(..., backward=False)`` bytes before their input (cost_model.FORWARD_WRITE_BLOCKS).
Two batches of odd-sized planes and odd channel counts through layers that do: a 1x1 conv that widens
the channels (output ending where its input ends), a 3x3 SAME conv (output a row ahead), a strided
depthwise, another widening 1x1, a depthwise SAME stride 1 and one with multiplier 2 VALID stride
(2, 1), a 5x3 SAME conv with stride (1, 2); dense, and sparse by both gathering CONV_2D kernels. Host
gcc cannot run MVE: QEMU (mps3-an547) only.
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


def _generate_over_input(graph, weight_format: str, kernels: set[str], tmp_path, monkeypatch):
    """The C of ``graph`` with every in-place pair the plan may take (``plan_every_pair``: the arena's
    own plan drops some here), after checking that every layer from the widening 1x1 to the 5x3 conv
    but the dense depthwise ones runs by one of ``kernels`` over its own input, the 1x1 and the 3x3
    ahead of it."""
    core = core_graph(graph)
    layers, _ = lower_graph(core, weight_format, Target.from_board(BOARD))
    plan = plan_every_pair(memory_request(core, layers))
    over_input = [layer for layer in layers if layer.output in plan.in_place]
    assert {layer.kernel for layer in over_input} == kernels
    assert [layer.index for layer in over_input] == ([1, 2, 3, 4, 5, 6, 7] if DEPTHWISE in kernels else [1, 2, 4, 7])
    for layer in over_input:
        lead = plan.placements[layer.in_place_of].offset - plan.placements[layer.output].offset
        assert lead == layer.in_place_lead >= 0 and (lead > 0 or layer.index > 2)
    monkeypatch.setattr(generate, "plan_memory", plan_every_pair)
    return generate_c(graph, tmp_path / "gen", weight_format=weight_format, board=BOARD)


@pytest.mark.parametrize("forced", [CONV, TAPS], indirect=True)
def test_sparse_convolutions_run_ahead_of_their_input(tmp_path, toolchain, monkeypatch, forced):
    generated = _generate_over_input(_forward_graph(0.6), "csr", {forced, DEPTHWISE}, tmp_path, monkeypatch)
    _assert_bit_exact(generated, BOARD, tmp_path)


def test_dense_convolutions_run_ahead_of_their_input(tmp_path, toolchain, monkeypatch):
    generated = _generate_over_input(_forward_graph(0.0), "dense", {"pqk_conv2d_s8_mve"}, tmp_path, monkeypatch)
    _assert_bit_exact(generated, BOARD, tmp_path)


def test_forward_only_lead_of_a_widening_pointwise_conv():
    window = dataclasses.make_dataclass("Window", ["filter_h", "filter_w", "stride_h", "stride_w", "dilation_h",
                                                   "dilation_w", "pad_top", "pad_left"])(1, 1, 1, 1, 1, 1, 0, 0)
    # backward: one alignment step after the input; forward: before it by the growth of the pixels up to the
    # last block (24 of 25), whose writes follow every read
    assert write_lead((1, 5, 5, 8), (1, 5, 5, 16), window, block=4) == -4
    assert write_lead((1, 5, 5, 8), (1, 5, 5, 16), window, block=4, backward=False) == 24 * 8
