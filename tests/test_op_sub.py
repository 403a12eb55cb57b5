"""int8 SUB: the reference equals TensorFlow Lite Micro bit for bit, the generated C equals the reference
on the host and under QEMU, and a SUB survives the .tflite round trip.

SUB lowers like ADD with input2's rescaled values negated: the table kernel (pqk_add_s8_lut) takes a
negated input2 table, the table-free kernel is pqk_sub_s8.
"""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.frontends.tflite_schema import schema
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.pipeline.verify import verify_model

from op_checks import assert_bit_exact

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
# (input1 scale, input2 scale, output scale): ordinary, a 10^4 ratio between the inputs, an output
# shift of 0 and one below -23 (outside the fast requantization's bounds: the exact path).
SCALES = ((0.05, 0.02, 0.06), (1e-4, 1.0, 0.5), (1.0, 0.5, 3e-6), (0.01, 0.004, 1.0))


@pytest.mark.parametrize("scales", SCALES)
def test_reference_equals_tflm_on_every_input_pair(scales):
    rng = np.random.default_rng(int(scales[0] * 1000))
    values = np.arange(-128, 128, dtype=np.int8)
    for activation in ACTIVATIONS:
        zero_points = [int(z) for z in rng.integers(-128, 128, 3)]
        b = GraphBuilder()
        x = b.input((256, 1), scales[0], zero_points[0])
        y = b.input((1, 256), scales[1], zero_points[1])
        graph = b.build([b.binary("SUB", x, y, scales[2], zero_points[2], activation=activation)])
        report = verify_model(graph, export_tflite(graph), "reference", [[values.reshape(256, 1), values.reshape(1, 256)]])
        assert report.mismatches == []


def _sub_graph():
    """Same-shape SUBs (the table kernel; the one-element layer takes pqk_sub_s8), broadcasting both
    ways, a constant operand and the extreme scales, the same input on both sides."""
    rng = np.random.default_rng(3)
    b = GraphBuilder()
    outputs = []
    for n, activation in zip((257, 7, 1), ACTIVATIONS):
        x, y = b.input((1, n), 0.031, -7), b.input((1, n), 0.047, 12)
        outputs.append(b.binary("SUB", x, y, float(rng.uniform(0.04, 0.12)), int(rng.integers(-128, 100)), activation))
    x = b.input((1, 4, 3, 6), 0.02, 5)
    channel = b.input((1, 1, 1, 6), 0.07, -20)
    scalar = b.constant(np.array([37]), "int8", b.quant(x))
    for k, (first, second) in enumerate([(x, channel), (channel, x), (x, scalar), (x, x)]):
        outputs.append(b.binary("SUB", first, second, 0.05, int(rng.integers(-128, 100)), ACTIVATIONS[k]))
    for k, (s1, s2, out_scale) in enumerate(SCALES):
        first = b.input((1, 4, 3, 6), s1, int(rng.integers(-128, 128)))
        second = b.input((1, 1, 3, 6), s2, -5)
        outputs.append(b.binary("SUB", first, second, out_scale, int(rng.integers(-128, 100)), ACTIVATIONS[k]))
    return b.build(outputs)


def test_both_kernels_chosen_and_reference_equals_tflm(tmp_path):
    graph = _sub_graph()
    generated = generate_c(graph, tmp_path / "gen", board="cortex-m4")
    kernels = [layer.kernel for layer in generated.layers]
    assert {"pqk_add_s8_lut", "pqk_sub_s8"} <= set(kernels) <= {"pqk_add_s8_lut", "pqk_sub_s8"}
    assert (tmp_path / "gen" / "runtime" / "pqk_sub_s8.c").is_file()
    assert_bit_exact(graph, "reference", 3, seed=1)


def test_bit_exact_on_host():
    graph = _sub_graph()
    assert_bit_exact(graph, "host", 3, seed=2)


@pytest.mark.parametrize("board", ["cortex-m4", "cortex-m3"])
def test_bit_exact_in_qemu(toolchain, board):
    graph = _sub_graph()
    assert_bit_exact(graph, board, 2, seed=3)


def test_export_round_trip_writes_sub_version_2():
    graph = _sub_graph()
    exported = export_tflite(graph)
    assert load_tflite(exported) == graph
    model = schema.Model.GetRootAs(exported, 0)
    codes = {(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).Version())
             for i in range(model.OperatorCodesLength())}
    assert codes == {(schema.BuiltinOperator.SUB, 2)}
    options = model.Subgraphs(0).Operators(1).BuiltinOptionsType()
    assert options == schema.BuiltinOptions.SubOptions
