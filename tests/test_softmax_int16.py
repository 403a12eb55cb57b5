"""SOFTMAX int8 -> int16 (TFLite Micro's 8-in 16-out form: scale 1/65536, zero point -32768) and the
QUANTIZE int16 -> int32 that follows it in keyword_scrambled_8bit.tflite: the reference equals TFLite
Micro, the generated C (pqk_softmax_s8_s16, pqk_quantize_s16) the reference."""

from __future__ import annotations

import pytest

from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.pipeline.verify import verify_model
from pqk_mcu.verify import random_inputs

# (rows, depth, input scale, beta): rows of 1 and many classes, scales and betas that saturate and that
# leave entries below diff_min (exp 0)
CASES = [(1, 2, 0.1, 1.0), (3, 12, 0.02, 1.0), (2, 40, 0.5, 0.5), (1, 7, 0.004, 2.0), (4, 5, 1.5, 1.0)]


def _graph(rows: int, depth: int, scale: float, beta: float):
    b = GraphBuilder()
    x = b.input((rows, depth), scale, -3)
    y = b.softmax(x, beta, dtype="int16")
    return b.build([b.quantize(y, 3.0518509447574615e-05, 0, dtype="int32")])


@pytest.mark.parametrize("board", ["reference", "host"])
@pytest.mark.parametrize("case", CASES)
def test_softmax_to_int16_bit_exact(request, board, case):
    if board != "reference":
        request.getfixturevalue("toolchain")
    graph = _graph(*case)
    report = verify_model(graph, export_tflite(graph), board, random_inputs(graph, 6, seed=1))
    assert report.inputs == 6 and report.mismatches == []
