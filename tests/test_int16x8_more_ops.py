"""More 16x8 ops (int16 activations with zero point 0, int8 weights, int64 biases): DEQUANTIZE int16 ->
float32 at a graph output, FULLY_CONNECTED and DEPTHWISE_CONV_2D. The reference equals TensorFlow Lite
Micro bit for bit on random layers and the generated C equals the reference on the host and under QEMU.
"""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.pipeline.host import HostModel
from pqk_mcu.pipeline.verify import verify_model
from pqk_mcu.reference import run_reference
from pqk_mcu.verify import random_inputs

from op_checks import assert_bit_exact


def _dequantize_graph():
    """DEQUANTIZE of a 16x8 ADD's output: the C core returns int16, the host side converts."""
    b = GraphBuilder()
    x = b.input((2, 70), 0.00037, 0, dtype="int16")
    y = b.input((2, 70), 0.0011, 0, dtype="int16")
    return b.build([b.dequantize(b.add(x, y, 0.0013, 0))])


def test_dequantize_reference_equals_tflm_and_c_on_host():
    graph = _dequantize_graph()
    inputs = random_inputs(graph, 3, seed=1)
    assert verify_model(graph, export_tflite(graph), "reference", inputs).mismatches == []
    assert verify_model(graph, None, "host", inputs).mismatches == []
    assert load_tflite(export_tflite(graph)) == graph


def test_dequantize_in_qemu(toolchain):
    graph = _dequantize_graph()
    assert verify_model(graph, None, "cortex-m4", random_inputs(graph, 2, seed=2)).mismatches == []


ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


def _fully_connected_graph():
    """16x8 FULLY_CONNECTEDs: per-tensor and per-channel weights holding -128, with and without an int64
    bias, rank-3 inputs (keep_num_dims or not), every fused activation."""
    rng = np.random.default_rng(6)
    b = GraphBuilder()
    outputs = []
    for i, activation in enumerate(ACTIVATIONS):
        x = b.input((2, 3, 24), 0.0004, 0, dtype="int16")
        scales = 0.01 if i % 2 == 0 else list(rng.uniform(0.002, 0.02, 10))
        weights = rng.integers(-128, 128, (10, 24)) * (rng.random((10, 24)) < 0.6)
        bias = None if i == 1 else rng.integers(-(1 << 24), 1 << 24, 10)
        outputs.append(b.fully_connected(x, weights, scales, bias, 0.00032, 0, activation, keep_num_dims=i == 2))
    return b.build(outputs)


def _depthwise_graph():
    """16x8 DEPTHWISE_CONV_2Ds: depth multipliers 1 and 2, strides, dilation, both paddings, per-tensor and
    per-channel filters holding -128, every fused activation; one input channel becomes a CONV_2D."""
    rng = np.random.default_rng(7)
    b = GraphBuilder()
    outputs = []
    for i, activation in enumerate(ACTIVATIONS):
        x = b.input((1, 7, 6, 3), 0.0004, 0, dtype="int16")
        multiplier = 1 + i % 2
        scales = 0.01 if i == 3 else list(rng.uniform(0.002, 0.02, 3 * multiplier))
        bias = None if i == 1 else rng.integers(-(1 << 24), 1 << 24, 3 * multiplier)
        outputs.append(b.depthwise_conv2d(x, rng.integers(-128, 128, (1, 3, 3, 3 * multiplier)), scales, bias,
                                          0.00016, 0, stride=1 + i % 2, padding=("SAME", "VALID")[i % 2],
                                          dilation=1 + (i == 2), activation=activation))
    single = b.input((1, 5, 5, 1), 0.0004, 0, dtype="int16")
    outputs.append(b.depthwise_conv2d(single, rng.integers(-128, 128, (1, 3, 3, 2)), 0.01, None, 0.0001, 0))
    return b.build(outputs)


@pytest.mark.parametrize("make", [_fully_connected_graph, _depthwise_graph])
def test_reference_equals_tflm_and_survives_export(make):
    graph = make()
    inputs = random_inputs(graph, 3, seed=8)
    inputs += [[x // 64 for x in sample] for sample in inputs]  # full-scale int16 saturates most outputs
    assert verify_model(graph, export_tflite(graph), "reference", inputs).mismatches == []
    assert load_tflite(export_tflite(graph)) == graph


@pytest.mark.parametrize("weight_format", ["dense", "csr"])
def test_fully_connected_runs_on_the_conv_kernels_on_host(tmp_path, weight_format):
    graph = _fully_connected_graph()
    kernel = {"dense": "pqk_conv2d_s16", "csr": "pqk_conv2d_s16_csr"}[weight_format]
    host = HostModel(graph, weight_format, work_dir=tmp_path)
    assert [info.kernel for info in host.generated.layers] == [kernel] * 4
    inputs = random_inputs(graph, 2, seed=9)
    for sample, result in zip(inputs, host.run(inputs)):
        for expected, actual in zip(run_reference(graph, sample)["outputs"], result["outputs"]):
            np.testing.assert_array_equal(actual, expected)


def test_depthwise_lowers_to_the_int16_kernel_and_runs_on_host(tmp_path):
    graph = _depthwise_graph()
    generated = generate_c(graph, tmp_path / "gen")
    assert [info.kernel for info in generated.layers] == ["pqk_depthwise_conv2d_s16"] * 4 + ["pqk_conv2d_s16"]
    assert_bit_exact(graph, "host", 3, seed=10)


@pytest.mark.parametrize("make", [_fully_connected_graph, _depthwise_graph])
def test_fully_connected_and_depthwise_in_qemu(toolchain, make):
    graph = make()
    assert verify_model(graph, None, "cortex-m4", random_inputs(graph, 2, seed=11)).mismatches == []
