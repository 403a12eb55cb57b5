"""int8 SVDF with its variable activation state: the reference equals TensorFlow Lite Micro bit for bit
over sequences of invocations (the state carried from one to the next), the state tensors import and
export, and the verifier holds the operands to TFLite Micro's rules.

The real model is TFLite Micro's keyword_scrambled_8bit.tflite (random "scrambled" weights). Its core
(ops 1..12: seven SVDFs and five FULLY_CONNECTEDs, int8 in and out) is cut out of the file; the
full model also needs int16 QUANTIZE / SOFTMAX, and its FULLY_CONNECTED weights hold -128, which
pqk-mcu refuses, so the cut clips them to -127.
"""

from __future__ import annotations

import dataclasses
import re

import flatbuffers
import numpy as np
import pytest

from conftest import FIXTURES
from pqk_mcu.errors import PqkError
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.frontends.tflite_schema import FILE_IDENTIFIER, schema
from pqk_mcu.ir.builder import GraphBuilder, per_tensor
from pqk_mcu.ir.ops import SvdfAttrs
from pqk_mcu.ir.verify import verify_graph
from pqk_mcu.reference import run_reference
from pqk_mcu.pipeline.verify import verify_model
from pqk_mcu.runner.tflm import run_tflm, run_tflm_sequence
from pqk_mcu.verify import random_inputs

KEYWORD_SCRAMBLED = FIXTURES / "tflm" / "keyword_scrambled_8bit.tflite"  # not among the fixtures every model test loads
ARENA = 400_000


def keyword_scrambled_core() -> bytes:
    """keyword_scrambled_8bit.tflite without its int16 edges (ops 1..12), FULLY_CONNECTED weights in [-127, 127]."""
    model = schema.ModelT.InitFromPackedBuf(KEYWORD_SCRAMBLED.read_bytes(), 0)
    subgraph = model.subgraphs[0]
    subgraph.operators = subgraph.operators[1:13]
    subgraph.inputs, subgraph.outputs = [0], [50]
    for operator in subgraph.operators:
        if model.operatorCodes[operator.opcodeIndex].builtinCode == schema.BuiltinOperator.FULLY_CONNECTED:
            buffer = model.buffers[subgraph.tensors[operator.inputs[1]].buffer]
            weights = np.asarray(buffer.data, dtype=np.uint8).view(np.int8).copy()
            buffer.data = np.maximum(weights, -127).view(np.uint8)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def svdf_graph(state_dtype: str, rank: int, batch: int, seed: int, input_size: int = 24, units: int = 6,
               memory: int = 5):
    """One SVDF with random weights; scales chosen so that the state and the output rarely saturate."""
    rng = np.random.default_rng(seed)
    filters = units * rank
    wide = state_dtype == "int16"
    state_scale, time_scale, state_zero_point = (0.02, 3e-5, 5) if wide else (0.1, 0.01, -7)
    time_limit = 32767 if wide else 127
    b = GraphBuilder()
    x = b.input((batch, input_size), 0.05, 3)
    feature = b.constant(rng.integers(-127, 128, (filters, input_size)), "int8", per_tensor(0.01))
    time = b.constant(rng.integers(-time_limit, time_limit + 1, (filters, memory)), state_dtype, per_tensor(time_scale))
    bias_scale = float(np.float32(state_scale) * np.float32(time_scale))
    bias = b.constant(rng.integers(-3000, 3000, units), "int32", per_tensor(bias_scale))
    state = b.state((batch, memory * filters), state_dtype, state_scale, state_zero_point)
    y = b.op("SVDF", (x, feature, time, bias, state), SvdfAttrs(rank=rank, unapplied_activation=1), 0.3, -4)
    return b.build([y])


def _tflm_sequence(model_bytes: bytes, inputs: list[np.ndarray]) -> list:
    return run_tflm_sequence(model_bytes, [[x] for x in inputs], ARENA)


@pytest.mark.parametrize("state_dtype", ["int8", "int16"])
@pytest.mark.parametrize("rank, batch", [(1, 1), (2, 2), (3, 1)])
def test_reference_equals_tflm_over_a_sequence(state_dtype, rank, batch):
    graph = svdf_graph(state_dtype, rank, batch, seed=rank * 10 + batch)
    model_bytes = export_tflite(graph)
    rng = np.random.default_rng(rank)
    inputs = [rng.integers(-128, 128, (batch, 24)).astype(np.int8) for _ in range(9)]
    state: dict[str, np.ndarray] = {}
    saturated = []
    for x, expected in zip(inputs, _tflm_sequence(model_bytes, inputs)):
        actual = run_reference(graph, [x], state=state)["outputs"][0]
        np.testing.assert_array_equal(actual, expected.outputs[0])
        saturated.append(np.isin(actual, (-128, 127)).mean())
    assert np.mean(saturated) < 0.3  # the comparison sees ordinary values, not only saturated ones
    # Without a state dict every call starts afresh, as every run_tflm does: the first invocation's output again.
    first = run_reference(graph, [inputs[0]])["outputs"][0]
    np.testing.assert_array_equal(first, run_tflm(model_bytes, [inputs[0]], ARENA).outputs[0])
    np.testing.assert_array_equal(first, run_tflm(model_bytes, [inputs[0]], ARENA).outputs[0])


def test_keyword_scrambled_core_equals_tflm_op_by_op():
    core = keyword_scrambled_core()
    graph = load_tflite(core)
    assert [op.kind for op in graph.ops].count("SVDF") == 7
    assert sum(t.variable for t in graph.tensors) == 7
    rng = np.random.default_rng(0)
    inputs = [rng.integers(-128, 128, (1, 96)).astype(np.int8) for _ in range(6)]
    state: dict[str, np.ndarray] = {}
    for x, run in zip(inputs, _tflm_sequence(core, inputs)):
        result = run_reference(graph, [x], keep_intermediates=True, state=state)
        for op, outputs in zip(graph.ops, run.operator_outputs):
            np.testing.assert_array_equal(result["tensors"][op.outputs[0]], next(iter(outputs.values())), err_msg=op.name)


def test_export_round_trip_keeps_the_state_tensors():
    graph = load_tflite(keyword_scrambled_core())
    exported = export_tflite(graph)
    assert load_tflite(exported) == graph
    model = schema.Model.GetRootAs(exported, 0)
    subgraph = model.Subgraphs(0)
    svdf = subgraph.Operators(0)
    assert subgraph.Tensors(int(svdf.InputsAsNumpy()[4])).IsVariable()
    codes = {(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).Version())
             for i in range(model.OperatorCodesLength())}
    assert (schema.BuiltinOperator.SVDF, 3) in codes
    assert svdf.BuiltinOptionsType() == schema.BuiltinOptions.SVDFOptions


def test_the_full_model_is_refused_for_its_int16_edges():
    with pytest.raises(PqkError, match=r"op 0 \(QUANTIZE\) has int16 input"):
        load_tflite(KEYWORD_SCRAMBLED)


def _replace_tensor(graph, name: str, **changes):
    return graph.replace(tensors=tuple(dataclasses.replace(t, **changes) if t.name == name else t
                                       for t in graph.tensors))


@pytest.mark.parametrize("change, message", [
    (lambda g, op: _replace_tensor(g, op.inputs[4], variable=False), "must be a variable (state) tensor"),
    (lambda g, op: _replace_tensor(g, op.inputs[4], dtype="int32"), "must be int8 or int16"),
    (lambda g, op: _replace_tensor(g, op.inputs[2], dtype="int16",
                                   data=g.tensor(op.inputs[2]).data.astype("int16")), "must be int8 (as the state)"),
    (lambda g, op: _replace_tensor(g, op.inputs[3], quant=per_tensor(0.5)), "expected state scale x weights_time"),
    (lambda g, op: g.replace(inputs=g.inputs + (op.inputs[4],)), "is a variable (state) tensor"),
])
def test_verifier_holds_svdf_to_tflite_micro_rules(change, message):
    graph = svdf_graph("int8", 1, 1, seed=0)
    with pytest.raises(PqkError, match=re.escape(message)):
        verify_graph(change(graph, graph.ops[0]))


def test_verify_starts_every_input_from_the_initial_state():
    """``pqk-mcu verify`` runs each input as a fresh invocation on every backend (TFLite Micro reset)."""
    graph = load_tflite(keyword_scrambled_core())
    report = verify_model(graph, keyword_scrambled_core(), "reference", random_inputs(graph, 4, seed=1))
    assert report.inputs == 4 and report.mismatches == []
    graph = svdf_graph("int16", 2, 1, seed=4)
    report = verify_model(graph, export_tflite(graph), "reference", random_inputs(graph, 4, seed=2))
    assert report.inputs == 4 and report.mismatches == []
