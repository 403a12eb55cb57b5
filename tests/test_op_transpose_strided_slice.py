"""int8 TRANSPOSE and STRIDED_SLICE: the reference equals TensorFlow Lite Micro, the generated C (one
strided gather, pqk_strided_copy_s8) equals the reference on the host and under QEMU, and both survive
the .tflite round trip."""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.errors import PqkError
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.ir.ops import NoAttrs, StridedSliceAttrs

from op_checks import assert_bit_exact

PERMUTATIONS = ((0, 3, 1, 2), (0, 2, 3, 1), (3, 2, 1, 0), (0, 1, 3, 2), (1, 0, 2, 3))
# (begin, end, strides, begin_mask, end_mask, shrink_axis_mask) on a [1, 6, 7, 4] input: plain ranges,
# negative indices, reversed axes, masks, shrunk axes, strides beyond the end.
SLICES = (
    ((0, 1, 0, 0), (1, 5, 7, 4), (1, 1, 1, 1), 0, 0, 0),
    ((0, -4, 1, 1), (1, -1, 7, 3), (1, 2, 3, 1), 0, 0, 0),
    ((0, 5, 6, 3), (1, 0, 0, 0), (1, -1, -2, -1), 0, 0, 0),
    ((0, 2, 5, 0), (0, 0, 0, 0), (1, 1, -1, 2), 0b1001, 0b1111, 0),
    ((0, 3, 0, 2), (1, 4, 7, 3), (1, 1, 1, 1), 0, 0, 0b1010),
    ((0, 0, 0, -1), (1, 6, 7, 0), (1, 4, 9, 1), 0, 0, 0b1000),
)


def _graph():
    b = GraphBuilder()
    x = b.input((1, 6, 7, 4), 0.05, -3)
    vector = b.input((5, 3), 0.05, -3)
    outputs = []
    for perm in PERMUTATIONS:
        outputs.append(b.op("TRANSPOSE", (x, b.constant(np.array(perm), "int32")), NoAttrs()))
    outputs.append(b.op("TRANSPOSE", (vector, b.constant(np.array([1, 0]), "int32")), NoAttrs()))
    for begin, end, strides, *masks in SLICES:
        operands = (x, *(b.constant(np.array(v), "int32") for v in (begin, end, strides)))
        outputs.append(b.op("STRIDED_SLICE", operands, StridedSliceAttrs(*masks)))
    return b.build(outputs)


def test_reference_equals_tflm(tmp_path):
    graph = _graph()
    assert {layer.kernel for layer in generate_c(graph, tmp_path / "gen").layers} == {"pqk_strided_copy_s8"}
    assert_bit_exact(graph, "reference", 3, seed=1)


def test_bit_exact_on_host():
    graph = _graph()
    assert_bit_exact(graph, "host", 3, seed=2)


def test_bit_exact_in_qemu(toolchain):
    graph = _graph()
    assert_bit_exact(graph, "cortex-m4", 2, seed=3)


def test_export_round_trip():
    graph = _graph()
    assert load_tflite(export_tflite(graph)) == graph


def test_shapes_follow_the_masks():
    graph = _graph()
    shapes = [graph.tensor(name).shape for name in graph.outputs]
    assert shapes[:6] == [(1, 4, 6, 7), (1, 7, 4, 6), (4, 7, 6, 1), (1, 6, 4, 7), (6, 1, 7, 4), (3, 5)]
    assert shapes[6:] == [(1, 4, 7, 4), (1, 2, 2, 2), (1, 5, 3, 3), (1, 4, 6, 2), (1, 7), (1, 2, 1)]


def test_bad_operands_are_refused():
    b = GraphBuilder()
    x = b.input((1, 4), 0.1, 0)
    with pytest.raises(PqkError, match="not a permutation"):
        b.op("TRANSPOSE", (x, b.constant(np.array([0, 0]), "int32")), NoAttrs())
    begin, end = b.constant(np.array([0, 3]), "int32"), b.constant(np.array([1, 1]), "int32")
    with pytest.raises(PqkError, match="selects no elements"):
        b.op("STRIDED_SLICE", (x, begin, end, b.constant(np.array([1, 1]), "int32")), StridedSliceAttrs())
