"""int8 SVDF with its variable activation state: the reference equals TensorFlow Lite Micro bit for bit
over sequences of invocations (the state carried from one to the next), the state tensors import and
export, and the verifier holds the operands to TFLite Micro's rules.

The real model is TFLite Micro's keyword_scrambled_8bit.tflite (random "scrambled" weights). Its core
(ops 1..12: seven SVDFs and five FULLY_CONNECTEDs, int8 in and out) is cut out of the file; the full
model (int16 QUANTIZE in, SOFTMAX int8 -> int16, QUANTIZE int16 -> int32 out; FULLY_CONNECTED weights
holding -128) verifies on the reference, the host and cortex-m4.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess

import flatbuffers
import numpy as np
import pytest

from conftest import FIXTURES
from pqk_mcu.codegen import generate_c
from pqk_mcu.errors import PqkError
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite, outline_tflite
from pqk_mcu.frontends.tflite_schema import FILE_IDENTIFIER, schema
from pqk_mcu.ir.builder import GraphBuilder, per_tensor
from pqk_mcu.ir.ops import SvdfAttrs
from pqk_mcu.ir.verify import verify_graph
from pqk_mcu.reference import run_reference
from pqk_mcu.pipeline.verify import verify_model
from pqk_mcu.runner.tflm import run_tflm, run_tflm_sequence
from pqk_mcu.verify import random_inputs

from op_checks import STREAM_PROGRAM, assert_bit_exact

KEYWORD_SCRAMBLED = FIXTURES / "tflm" / "keyword_scrambled_8bit.tflite"  # not among the fixtures every model test loads
ARENA = 400_000


def keyword_scrambled_core() -> bytes:
    """keyword_scrambled_8bit.tflite without its int16 / int32 edges (ops 1..12)."""
    model = schema.ModelT.InitFromPackedBuf(KEYWORD_SCRAMBLED.read_bytes(), 0)
    subgraph = model.subgraphs[0]
    subgraph.operators = subgraph.operators[1:13]
    subgraph.inputs, subgraph.outputs = [0], [50]
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


def test_inspect_outlines_the_full_model_without_refusals():
    outline = outline_tflite(KEYWORD_SCRAMBLED)
    assert [op.kind for op in outline].count("SVDF") == 7
    assert [op.index for op in outline if op.unsupported] == []
    assert outline[1].inputs == ["int8[1, 96]", "int8[64, 96]", "int8[64, 8]", "int32[64]", "int8[1, 512]"]
    assert (outline[13].outputs, outline[14].outputs) == (["int16[1, 2]"], ["int32[1, 2]"])


@pytest.mark.parametrize("board", ["reference", "host", "cortex-m4"])
def test_the_full_model_verifies(request, board):
    """``pqk-mcu verify keyword_scrambled_8bit.tflite --inputs 20``: the reference against TFLite Micro,
    the host and cortex-m4 against the reference."""
    if board != "reference":
        request.getfixturevalue("toolchain")
    graph = load_tflite(KEYWORD_SCRAMBLED)
    assert (graph.tensor(graph.inputs[0]).dtype, graph.tensor(graph.outputs[0]).dtype) == ("int16", "int32")
    assert any((graph.tensor(op.inputs[1]).data == -128).any() for op in graph.ops if op.kind == "FULLY_CONNECTED")
    report = verify_model(graph, KEYWORD_SCRAMBLED.read_bytes(), board, random_inputs(graph, 20, seed=0))
    assert report.inputs == 20 and report.mismatches == []


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
    assert_bit_exact(graph, "reference", 4, seed=2)


def _svdf_graphs():
    """The keyword_scrambled core (int8 state, rank 1; its values saturate), one SVDF with int8 state and
    rank 3, one with int16 state, rank 2, batch 2."""
    yield load_tflite(keyword_scrambled_core())
    yield svdf_graph("int8", 3, 1, seed=5)
    yield svdf_graph("int16", 2, 2, seed=6)


def test_generated_c_keeps_the_state_outside_the_arena(tmp_path):
    graph = load_tflite(keyword_scrambled_core())
    generated = generate_c(graph, tmp_path / "gen")
    assert [layer.kernel for layer in generated.layers].count("pqk_svdf_s8") == 7
    model_c = (tmp_path / "gen" / "model.c").read_text()
    assert "static int8_t pqk_state6[1024];" in model_c and "void pqk_model_reset(void)" in model_c
    assert "#define PQK_MODEL_HAS_STATE 1" in (tmp_path / "gen" / "model.h").read_text()
    state_bytes = sum(t.nbytes for t in graph.tensors if t.variable)
    assert generated.arena_bytes < state_bytes  # the 5 KB of state are not planned in the arena


@pytest.mark.parametrize("index", [0, 1, 2])
def test_bit_exact_on_host(index):
    graph = list(_svdf_graphs())[index]
    assert_bit_exact(graph, "host", 4, seed=3)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_bit_exact_in_qemu(toolchain, index):
    graph = list(_svdf_graphs())[index]
    assert_bit_exact(graph, "cortex-m4", 2, seed=4)


@pytest.mark.parametrize("state_dtype", ["int8", "int16"])
def test_generated_c_carries_the_state_across_invocations(tmp_path, state_dtype):
    """The C model is a stream like TFLite Micro's interpreter: each invocation continues from the last
    one's state; pqk_model_reset() starts over."""
    graph = svdf_graph(state_dtype, 3, 1, seed=7)
    generate_c(graph, tmp_path / "gen")
    (tmp_path / "main.c").write_text(STREAM_PROGRAM)
    runtime = tmp_path / "gen" / "runtime"
    executable = tmp_path / "stream"
    sources = [tmp_path / "gen" / "model.c", tmp_path / "gen" / "model_weights.c", runtime / "pqk_svdf_s8.c",
               tmp_path / "main.c"]
    command = ["gcc", "-std=c99", "-Wall", "-Werror", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
               "-I", str(tmp_path / "gen"), "-I", str(runtime), *map(str, sources), "-o", str(executable)]
    subprocess.run(command, check=True)
    rng = np.random.default_rng(8)
    inputs = [rng.integers(-128, 128, (1, 24)).astype(np.int8) for _ in range(7)]
    (tmp_path / "in.bin").write_bytes(b"".join(x.tobytes() for x in inputs))
    subprocess.run([str(executable), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")], check=True)
    outputs = np.frombuffer((tmp_path / "out.bin").read_bytes(), dtype=np.int8).reshape(-1, 6)
    expected = [x.outputs[0].reshape(-1) for x in _tflm_sequence(export_tflite(graph), inputs + inputs[:1])]
    expected[-1] = run_tflm(export_tflite(graph), [inputs[0]], ARENA).outputs[0].reshape(-1)
    np.testing.assert_array_equal(outputs, np.array(expected))
    assert len({row.tobytes() for row in outputs[:-1]}) > 1 and (outputs[-1] == outputs[0]).all()


def test_library_readme_documents_the_state(tmp_path):
    generate_c(load_tflite(keyword_scrambled_core()), tmp_path / "gen")
    readme = (tmp_path / "gen" / "README.md").read_text()
    assert "| state (RAM, .bss) | 5120 |" in readme and "`pqk_model_reset()`" in readme
