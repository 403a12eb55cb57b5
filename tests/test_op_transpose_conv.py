"""int8 TRANSPOSE_CONV: the reference equals TensorFlow Lite Micro bit for bit (strides, SAME and VALID,
per-tensor and per-channel filters, with and without bias, fused activations), the generated C equals the
reference on the host and under QEMU, and the op survives the .tflite round trip.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pqk_mcu.codegen.generate import core_graph
from pqk_mcu.errors import PqkError
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.frontends.tflite_schema import schema
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.ir.graph import QuantParams
from pqk_mcu.ir.ops import TransposeConvAttrs
from pqk_mcu.ir.verify import verify_graph

from op_checks import assert_bit_exact


def add_transpose_conv(b: GraphBuilder, x: str, rng, out_c: int, kernel: tuple[int, int], stride: tuple[int, int],
                       padding: str, per_channel: bool, with_bias: bool, activation: str = "NONE") -> str:
    n, in_h, in_w, in_c = b.shape(x)
    (k_h, k_w), (s_h, s_w) = kernel, stride
    if padding == "SAME":
        out_h, out_w = in_h * s_h, in_w * s_w
    else:
        out_h, out_w = (in_h - 1) * s_h + k_h, (in_w - 1) * s_w + k_w
    scales = tuple(rng.uniform(0.002, 0.02, out_c)) if per_channel else (0.01,)
    axis = 0 if len(scales) > 1 else None  # one scale is per-tensor in a .tflite
    in_scale = b.quant(x).scale[0]
    w = b.constant(rng.integers(-127, 128, (out_c, k_h, k_w, in_c)), "int8", QuantParams(scales, (0,) * len(scales), axis))
    inputs = [b.constant(np.array([n, out_h, out_w, out_c]), "int32"), w, x]
    if with_bias:
        bias_scales = tuple(float(np.float32(in_scale) * np.float32(s)) for s in scales)
        inputs.append(b.constant(rng.integers(-2000, 2000, out_c), "int32", QuantParams(bias_scales, (0,) * len(scales), axis)))
    out_scale = float(in_scale * max(scales) * np.sqrt(k_h * k_w * in_c) * 40)
    attrs = TransposeConvAttrs(s_h, s_w, padding, activation)
    return b.op("TRANSPOSE_CONV", inputs, attrs, out_scale, int(rng.integers(-10, 10)))


CASES = [  # (input h, w, c), out_c, kernel, stride, padding, per_channel, bias, activation
    ((4, 5, 3), 4, (3, 3), (2, 2), "SAME", True, True, "NONE"),
    ((3, 3, 2), 3, (4, 4), (2, 2), "SAME", False, False, "RELU"),
    ((2, 4, 5), 2, (3, 2), (1, 3), "VALID", True, False, "RELU6"),
    ((1, 6, 1), 5, (1, 5), (1, 2), "VALID", False, True, "RELU_N1_TO_1"),
    ((5, 2, 4), 1, (2, 3), (3, 1), "SAME", True, True, "NONE"),
]


def _graph(cases=CASES, seed: int = 0):
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    outputs = []
    for (h, w, c), out_c, kernel, stride, padding, per_channel, bias, activation in cases:
        x = b.input((1, h, w, c), 0.05, int(rng.integers(-20, 20)))
        outputs.append(add_transpose_conv(b, x, rng, out_c, kernel, stride, padding, per_channel, bias, activation))
    return b.build(outputs)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_reference_equals_tflm(case):
    graph = _graph([CASES[case]], seed=case)
    assert_bit_exact(graph, "reference", 4, seed=case)


def test_bit_exact_on_host():
    graph = _graph()
    assert_bit_exact(graph, "host", 3, seed=2)


def test_bit_exact_in_qemu(toolchain):
    graph = _graph()
    assert_bit_exact(graph, "cortex-m4", 2, seed=3)


def test_export_round_trip_writes_versions_2_to_4():
    graph = _graph()
    exported = export_tflite(graph)
    assert load_tflite(exported) == graph
    model = schema.Model.GetRootAs(exported, 0)
    versions = [model.OperatorCodes(model.Subgraphs(0).Operators(i).OpcodeIndex()).Version() for i in range(len(CASES))]
    assert versions == [3, 4, 4, 4, 3]  # 4: a fused activation, 3: a bias, 2: neither


def test_a_standalone_relu_folds_in():
    rng = np.random.default_rng(9)
    b = GraphBuilder()
    x = b.input((1, 3, 3, 2), 0.05, 1)
    y = add_transpose_conv(b, x, rng, 3, (3, 3), (2, 2), "SAME", True, True)
    graph = b.build([b.relu(y)])
    core = core_graph(graph)
    assert [(op.kind, op.attrs.activation) for op in core.ops] == [("TRANSPOSE_CONV", "RELU")]
    assert_bit_exact(graph, "host", 2, seed=9)


def test_verifier_holds_the_filter_and_bias_to_tflite_micro_rules():
    graph = _graph(CASES[:1])
    op = graph.ops[0]
    w, bias = graph.tensor(op.inputs[1]), graph.tensor(op.inputs[3])
    def replaced(tensor, **changes):
        return graph.replace(tensors=tuple(dataclasses.replace(t, **changes) if t.name == tensor.name else t
                                           for t in graph.tensors))

    with pytest.raises(PqkError, match="must be int8 with zero point 0"):
        verify_graph(replaced(w, quant=QuantParams(w.quant.scale, (1,) * len(w.quant.scale), 0)))
    with pytest.raises(PqkError, match="expected input scale x filter scale"):
        verify_graph(replaced(bias, quant=QuantParams(tuple(s * 2 for s in bias.quant.scale), bias.quant.zero_point, 0)))
    with pytest.raises(PqkError, match="disagree on batches or channels"):
        shape = graph.tensor(op.inputs[0])
        verify_graph(replaced(shape, data=shape.data + np.array([0, 0, 0, 1])))
