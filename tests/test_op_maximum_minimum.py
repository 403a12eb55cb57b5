"""int8 MAXIMUM and MINIMUM: the reference equals TensorFlow Lite Micro, the generated C
(pqk_maximum_minimum_s8) equals the reference on the host and under QEMU, and both survive the .tflite
round trip. TFLite Micro compares raw int8 values, so inputs and output share one quantization."""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.errors import PqkError
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.ir.ops import NoAttrs

from op_checks import assert_bit_exact


def _graph():
    """Each op on same shapes, broadcasting both ways, a constant operand and ranks below 4."""
    b = GraphBuilder()
    scale, zero_point = 0.04, -9
    x = b.input((1, 4, 3, 6), scale, zero_point)
    y = b.input((1, 4, 3, 6), scale, zero_point)
    channel = b.input((1, 1, 1, 6), scale, zero_point)
    vector = b.input((3, 1), scale, zero_point)
    constant = b.constant(np.array([[-3, 0, 7, 100, -128, 127]], dtype=np.int8), "int8", b.quant(x))
    outputs = []
    for kind in ("MAXIMUM", "MINIMUM"):
        for first, second in ((x, y), (x, channel), (channel, x), (x, constant), (vector, channel)):
            outputs.append(b.op(kind, (first, second), NoAttrs()))
    return b.build(outputs)


def test_reference_equals_tflm():
    graph = _graph()
    assert_bit_exact(graph, "reference", 4, seed=1)


def test_bit_exact_on_host():
    graph = _graph()
    assert_bit_exact(graph, "host", 3, seed=2)


def test_bit_exact_in_qemu(toolchain):
    graph = _graph()
    assert_bit_exact(graph, "cortex-m4", 2, seed=3)


def test_export_round_trip():
    graph = _graph()
    assert load_tflite(export_tflite(graph)) == graph


def test_inputs_quantized_differently_are_refused():
    b = GraphBuilder()
    x, y = b.input((1, 4), 0.1, 0), b.input((1, 4), 0.2, 0)
    with pytest.raises(PqkError, match="must share scale and zero point"):
        b.build([b.op("MAXIMUM", (x, y), NoAttrs())])
