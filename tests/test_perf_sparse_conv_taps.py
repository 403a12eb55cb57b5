"""pqk_conv2d_s8_csr_taps_dsp (sparse CONV_2D over few input channels on DSP cores) against the reference.

Small graphs whose sparse convolutions over 1 to 4 input channels take the tap kernel (its estimate
zeroed, so that every layer it can run takes it, whatever the cost model's fits) run bit-exact on the
host (plain-C DSP fallbacks under ASan/UBSan) and in QEMU: 10x8 stride 2 SAME (the micro_speech
layer), 2x3 / 3x3 / 5x5 / 7x7 / 4x9 filters, every pixel step (stride_w x input_c 1, 2, 3, 4, 6, 8),
strides 1, 2, (3, 1) and (1, 2), SAME and VALID padding, dilation 2, output rows of 7 to 20 pixels
(partial blocks of 1, 2, 3, 4 and 7 pixels), two batches, rows without nonzeros, every requantization
mode (ReLU onto all of int8, none, ReLU6 onto part of int8, channels outside the fast bounds), a layer
over its own input (in place) and the other DSP cores. The cost model's own choice on the micro_speech
layer.
"""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.codegen import core_graph, generate_c
from pqk_mcu.codegen.cost_model import KERNEL_COSTS, DSP_TAPS_CONV_KERNEL, KernelCost, Target
from pqk_mcu.codegen.generate import memory_request
from pqk_mcu.codegen.lower import lower_graph
from pqk_mcu.codegen.memory import plan_memory
from pqk_mcu.ir.builder import GraphBuilder
from test_perf_kernels import _assert_bit_exact, _weights
from test_perf_sparse_conv import _conv


@pytest.fixture
def taps_preferred(monkeypatch):
    """The tap kernel estimated free: it runs every layer it can."""
    monkeypatch.setitem(KERNEL_COSTS, DSP_TAPS_CONV_KERNEL, KernelCost(per_mac=0.0, per_output=0.0, per_tap_output=0.0,
                                                                   per_column=0.0, per_position=0.0, per_call=0.0))


def _taps_graph():
    """One input channel 25x20 through the micro_speech layer (10x8 stride 2 SAME, 8 channels, 13x10
    pixels) and two more, then convolutions over 2 to 4 channels of 1x1 reductions: every pixel step
    (stride_w x input_c 1, 2, 3, 4, 6, 8), rows of 5 to 20 pixels."""
    rng = np.random.default_rng(31)
    b = GraphBuilder()
    x = b.input((1, 25, 20, 1), scale=0.05, zero_point=-3)
    outputs = [_conv(b, x, rng, 8, 10, 8, 0.9, "RELU", -128, empty_rows=(3,), stride=2, padding="SAME")]
    outputs.append(_conv(b, x, rng, 7, 7, 7, 0.85, "NONE", 4, stride=(1, 2), padding="VALID"))  # 19x7
    outputs.append(_conv(b, x, rng, 5, 5, 5, 0.85, "RELU6", -20, padding="SAME", dilation=2))  # 25x20
    for in_c, (k_h, k_w), stride, padding, activation, zero_point in (
            (2, (3, 3), 1, "SAME", "RELU", -128), (3, (4, 9), (3, 1), "VALID", "NONE", 2),
            (4, (5, 5), 2, "SAME", "RELU", -128), (3, (3, 3), 2, "VALID", "RELU6", -20),
            (4, (2, 3), 1, "VALID", "NONE", -9)):
        y = _conv(b, x, rng, in_c, 1, 1, 0.0, "NONE", -3)
        outputs.append(_conv(b, y, rng, 9, k_h, k_w, 0.9, activation, zero_point, stride=stride, padding=padding))
    return b.build(outputs=outputs)


def _batches_in_place_graph():
    """Two batches; a 1x1 layer onto 3 channels whose output only the tap layer reads: the tap layer
    may run over its own input (a 3x3 SAME one, 3 -> 16 channels, rows of 11 pixels)."""
    rng = np.random.default_rng(32)
    b = GraphBuilder()
    x = b.input((2, 9, 11, 1), scale=0.05, zero_point=6)
    y = _conv(b, x, rng, 3, 1, 1, 0.0, "NONE", -3)
    y = _conv(b, y, rng, 16, 5, 5, 0.9, "RELU", -128, padding="SAME")
    y = _conv(b, y, rng, 4, 1, 1, 0.0, "NONE", 1)
    return b.build(outputs=[y])


def _requant_checked_graph():
    """5x5 over 2 channels with channels outside the fast bounds (tiny and huge scales)."""
    rng = np.random.default_rng(33)
    b = GraphBuilder()
    x = b.input((1, 12, 13, 2), scale=0.05, zero_point=-3)
    scales = list(rng.uniform(0.002, 0.01, 9))
    scales[0], scales[1] = 1e-10, 40.0
    w = _weights(rng, (9, 5, 5, 2), 0.9)
    x = b.conv2d(x, w, scales, rng.integers(-300, 300, 9).astype(np.int32), 0.1, -128, padding="SAME",
                 activation="RELU")
    return b.build(outputs=[x])


def _taps_layers(generated):
    return [layer for layer in generated.layers if layer.kernel == DSP_TAPS_CONV_KERNEL]


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_taps_conv_bit_exact(tmp_path, toolchain, taps_preferred, target):
    generated = generate_c(_taps_graph(), tmp_path / "gen", board="cortex-m4")
    assert len(_taps_layers(generated)) == 8  # all but the 1x1 layers
    _assert_bit_exact(generated, target, tmp_path)


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_taps_conv_runs_over_its_own_input(tmp_path, toolchain, taps_preferred, target):
    graph = _batches_in_place_graph()
    layers, _ = lower_graph(core_graph(graph), "auto", Target(has_dsp=True))
    assert layers[1].kernel == DSP_TAPS_CONV_KERNEL
    assert layers[1].output in plan_memory(memory_request(core_graph(graph), layers)).in_place
    generated = generate_c(graph, tmp_path / "gen", board="cortex-m4")
    _assert_bit_exact(generated, target, tmp_path)


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_taps_conv_checked_requantization_bit_exact(tmp_path, toolchain, taps_preferred, target):
    generated = generate_c(_requant_checked_graph(), tmp_path / "gen", board="cortex-m4")
    assert [layer.kernel for layer in generated.layers] == [DSP_TAPS_CONV_KERNEL]
    assert ".requant.checked = 1" in (generated.out_dir / "model_weights.c").read_text()
    _assert_bit_exact(generated, target, tmp_path)


@pytest.mark.parametrize("target", ["cortex-m7", "cortex-m33", "cortex-m55"])
def test_taps_conv_other_dsp_cores_bit_exact(tmp_path, toolchain, taps_preferred, without_sparse_mve, target):
    generated = generate_c(_taps_graph(), tmp_path / "gen", board=target)
    assert len(_taps_layers(generated)) == 8
    _assert_bit_exact(generated, target, tmp_path)


def test_micro_speech_layer_takes_the_tap_kernel_when_pruned():
    """The cost model's own choice: the 10x8 stride-2 layer over one channel at 90% (8 of 80 taps per
    channel) runs as taps, at 50% the wide kernel's gathered columns are cheaper."""
    def kernel(sparsity):
        rng = np.random.default_rng(34)
        b = GraphBuilder()
        x = b.input((1, 49, 40, 1), scale=0.05, zero_point=-3)
        graph = b.build(outputs=[_conv(b, x, rng, 8, 10, 8, sparsity, "RELU", -128, stride=2, padding="SAME")])
        layers, _ = lower_graph(core_graph(graph), "auto", Target(has_dsp=True))
        return layers[0].kernel

    assert kernel(0.9) == DSP_TAPS_CONV_KERNEL
    assert kernel(0.5) != DSP_TAPS_CONV_KERNEL
