"""LOGISTIC, TANH and SOFTMAX on int16 activations (16x8 models; output scale 2^-15, zero point 0): the
reference equals TensorFlow Lite Micro on every int16 input (LOGISTIC, TANH) and on random rows (SOFTMAX)
over power-of-two and other input scales, the generated C (pqk_logistic_s16, pqk_tanh_s16,
pqk_softmax_s16) equals the reference on the host and under QEMU, and the ops survive the .tflite round
trip."""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.errors import PqkError, UnsupportedModelError
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.builder import GraphBuilder, per_tensor
from pqk_mcu.ir.graph import Tensor
from pqk_mcu.ir.verify import verify_graph
from pqk_mcu.pipeline.verify import verify_model

from op_checks import assert_bit_exact

# 2^-12 and (TANH) 2^-11 take TFLite Micro's power-of-two path; the others its general multiplier, with
# shifts from 0 (scale 2) to 15 (2^-15).
SCALES = (2.0 ** -12, 2.0 ** -11, 2.0 ** -10, 2.0 ** -13, 2.0 ** -15, 0.0003, 1 / 3000, 0.00007, 0.01, 0.3, 2.0)
EVERY_INT16 = np.arange(-32768, 32768, dtype=np.int16).reshape(256, 256)


def _unary_graph(kind: str, scale: float):
    b = GraphBuilder()
    x = b.input((256, 256), float(np.float32(scale)), 0, dtype="int16")
    return b.build([getattr(b, kind)(x)])


@pytest.mark.parametrize("kind", ["logistic", "tanh"])
def test_logistic_tanh_reference_equals_tflm_on_every_input(kind):
    for scale in SCALES:
        graph = _unary_graph(kind, scale)
        report = verify_model(graph, export_tflite(graph), "reference", [[EVERY_INT16]])
        assert report.mismatches == [], (kind, scale)


def _softmax_graph(rows: int, depth: int, scale: float, beta: float):
    b = GraphBuilder()
    x = b.input((rows, depth), float(np.float32(scale)), 0, dtype="int16")
    return b.build([b.softmax(x, beta)])


# (rows, depth, input scale, beta): one class and many, scales where the whole row is within exp's
# [-10, 0] and where most of it is beyond, betas other than 1; 10 / 65535 spreads the int16 range over the
# whole exp table (its 512 segments)
SOFTMAX_CASES = [(1, 1, 0.001, 1.0), (3, 10, 2.0 ** -12, 1.0), (2, 100, 0.0003, 0.5), (4, 7, 0.00002, 2.0),
                 (1, 1000, 0.002, 1.0), (5, 33, 0.05, 0.25), (8, 2000, 10 / 65535, 1.0)]


@pytest.mark.parametrize("case", SOFTMAX_CASES)
def test_softmax_reference_equals_tflm(case):
    assert_bit_exact(_softmax_graph(*case), "reference", 4, seed=1)


def _all_graph():
    """The three ops on shared and separate int16 inputs, feeding each other."""
    b = GraphBuilder()
    x = b.input((2, 5, 40), 0.0004, 0, dtype="int16")
    y = b.input((3, 17), 2.0 ** -11, 0, dtype="int16")
    return b.build([b.logistic(x), b.softmax(b.tanh(x), 2.0), b.tanh(y), b.softmax(b.logistic(y))])


@pytest.mark.parametrize("backend", ["reference", "host"])
def test_ops_together_bit_exact(request, backend):
    if backend != "reference":
        request.getfixturevalue("toolchain")
    assert_bit_exact(_all_graph(), backend, 5, seed=3)


def test_every_input_on_host(toolchain):
    b = GraphBuilder()
    x = b.input((256, 256), 0.0003, 0, dtype="int16")
    graph = b.build([b.logistic(x), b.tanh(x)])
    assert verify_model(graph, None, "host", [[EVERY_INT16]]).mismatches == []


def test_softmax_over_the_whole_exp_table_on_host(toolchain):
    assert_bit_exact(_softmax_graph(8, 2000, 10 / 65535, 1.0), "host", 2, seed=5)


def test_in_qemu(toolchain):
    assert_bit_exact(_all_graph(), "cortex-m4", 2, seed=4)


def test_round_trip():
    graph = _all_graph()
    assert load_tflite(export_tflite(graph)) == graph


@pytest.mark.parametrize("kind", ["LOGISTIC", "TANH", "SOFTMAX"])
def test_verifier_holds_the_int16_output_quantization(kind):
    graph = _all_graph()
    op = next(op for op in graph.ops if op.kind == kind)
    output = graph.tensor(op.outputs[0])
    wrong = Tensor(output.name, output.shape, "int16", per_tensor(1.0 / 256, 0))
    tensors = tuple(wrong if t.name == output.name else t for t in graph.tensors)
    with pytest.raises(PqkError, match="must have scale 3.05176e-05|must have scale 3.0517578125e-05"):
        verify_graph(graph.replace(tensors=tensors))


def test_input_scale_beyond_the_int16_kernel_is_refused(tmp_path):
    """Above 2.67 the input multiplier exceeds the 32767 that keeps TFLite Micro's int32 product in range."""
    with pytest.raises(UnsupportedModelError, match=r"input scale 3 is above the 2.67"):
        generate_c(_unary_graph("tanh", 3.0), tmp_path / "model")
