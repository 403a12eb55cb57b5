"""int8 PACK: the reference equals TensorFlow Lite Micro on every axis, the generated C (CONCATENATION's
kernel: stacking along a new axis is concatenating along it) equals the reference on the host and under
QEMU, and the op survives the .tflite round trip with its values_count."""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.errors import PqkError
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.ir.ops import PackAttrs

from op_checks import assert_bit_exact


def _graph():
    """Three inputs on every axis, a constant input, a single input."""
    b = GraphBuilder()
    x, y, z = (b.input((2, 3, 4), 0.1, 2) for _ in range(3))
    constant = b.constant(np.arange(24).reshape(2, 3, 4) - 12, "int8", b.quant(x))
    outputs = [b.op("PACK", (x, y, z), PackAttrs(3, axis)) for axis in range(4)]
    outputs += [b.op("PACK", (x, constant), PackAttrs(2, 1)), b.op("PACK", (y,), PackAttrs(1, 0))]
    return b.build(outputs)


def test_shapes_and_kernel(tmp_path):
    graph = _graph()
    assert [graph.tensor(name).shape for name in graph.outputs] == [
        (3, 2, 3, 4), (2, 3, 3, 4), (2, 3, 3, 4), (2, 3, 4, 3), (2, 2, 3, 4), (1, 2, 3, 4)]
    assert {layer.kernel for layer in generate_c(graph, tmp_path / "gen").layers} == {"pqk_concatenation_s8"}


def test_reference_equals_tflm():
    graph = _graph()
    assert_bit_exact(graph, "reference", 2, seed=1)


@pytest.mark.parametrize("board", ["host", "cortex-m4"])
def test_bit_exact_generated_c(board, request):
    if board != "host":
        request.getfixturevalue("toolchain")
    graph = _graph()
    assert_bit_exact(graph, board, 2, seed=2)


def test_export_round_trip():
    graph = _graph()
    assert load_tflite(export_tflite(graph)) == graph


def test_a_wrong_values_count_is_refused():
    b = GraphBuilder()
    x = b.input((2,), 0.1, 0)
    with pytest.raises(PqkError, match="values_count 3"):
        b.op("PACK", (x, x), PackAttrs(3, 0))
