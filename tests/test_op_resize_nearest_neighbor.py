"""int8 RESIZE_NEAREST_NEIGHBOR: the reference (TFLite's float32 source-index arithmetic) equals TensorFlow
Lite Micro for every align_corners / half_pixel_centers combination, up- and downscaling; the generated C
(pqk_resize_nearest_s8, source offsets computed at compile time) equals the reference on the host and under
QEMU; the op survives the .tflite round trip."""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.ir.ops import ResizeAttrs
from pqk_mcu.ir.shapes import nearest_source_indices

from op_checks import assert_bit_exact

SIZES = ((10, 14), (3, 4), (7, 5), (1, 1), (11, 3), (5, 7))
FLAGS = ((False, False), (True, False), (False, True), (True, True))


def _graph():
    b = GraphBuilder()
    x = b.input((2, 5, 7, 3), 0.1, 2)
    outputs = [
        b.op("RESIZE_NEAREST_NEIGHBOR", (x, b.constant(np.array(size), "int32")), ResizeAttrs(*flags))
        for size in SIZES for flags in FLAGS
    ]
    return b.build(outputs)


def test_source_indices():
    assert nearest_source_indices(2, 4, False, False) == [0, 0, 1, 1]
    assert nearest_source_indices(3, 5, True, False) == [0, 1, 1, 2, 2]  # 0.5 rounds away from zero
    assert nearest_source_indices(4, 2, False, True) == [1, 3]


def test_reference_equals_tflm(tmp_path):
    graph = _graph()
    assert {layer.kernel for layer in generate_c(graph, tmp_path / "gen").layers} == {"pqk_resize_nearest_s8"}
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
