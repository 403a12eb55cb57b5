"""int8 SQUEEZE: a no-op alias in the generated C (like RESHAPE); the reference equals TensorFlow Lite
Micro, the C equals the reference on the host and under QEMU, and the op survives the .tflite round trip."""

from __future__ import annotations

import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.errors import PqkError
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.ir.ops import SqueezeAttrs

from op_checks import assert_bit_exact


def _graph():
    """Every size-1 axis, listed axes (one negative), and a squeeze between two kernels."""
    b = GraphBuilder()
    x = b.input((1, 3, 1, 4), 0.1, 2)
    y = b.input((1, 1, 5, 1), 0.1, 2)
    outputs = [b.op("SQUEEZE", (x,), SqueezeAttrs()), b.op("SQUEEZE", (x,), SqueezeAttrs((0, -2))),
               b.op("SQUEEZE", (y,), SqueezeAttrs((3,)))]
    outputs.append(b.relu(b.op("SQUEEZE", (b.relu(y, 0.05, -128),), SqueezeAttrs()), 0.1, 0))
    return b.build(outputs)


def test_shapes_and_alias(tmp_path):
    graph = _graph()
    assert [graph.tensor(name).shape for name in graph.outputs] == [(3, 4), (3, 4), (1, 1, 5), (5,)]
    kernels = [layer.kernel for layer in generate_c(graph, tmp_path / "gen").layers]
    assert kernels.count("") == 4  # every SQUEEZE is an alias (memcpy at most where a graph edge needs it)


def test_reference_equals_tflm():
    graph = _graph()
    assert_bit_exact(graph, "reference", 3, seed=1)


@pytest.mark.parametrize("board", ["host", "cortex-m4"])
def test_bit_exact_generated_c(board, request):
    if board != "host":
        request.getfixturevalue("toolchain")
    graph = _graph()
    assert_bit_exact(graph, board, 2, seed=2)


def test_export_round_trip():
    graph = _graph()
    assert load_tflite(export_tflite(graph)) == graph


def test_squeezing_an_axis_larger_than_one_is_refused():
    b = GraphBuilder()
    x = b.input((1, 3), 0.1, 0)
    with pytest.raises(PqkError, match="cannot squeeze axis 1"):
        b.op("SQUEEZE", (x,), SqueezeAttrs((1,)))
