"""int8 UNIDIRECTIONAL_SEQUENCE_LSTM (int16 cell state) with its hidden and cell state: the reference
equals TensorFlow Lite Micro bit for bit, on the real model and on small random LSTMs (cell scales
whose tanh input shifts left, not at all and right; with and without cell clip; batch 2; time major),
over sequences of invocations; the generated C equals the reference on the host and in QEMU; the
state tensors import and export; the verifier holds the operands to TFLite Micro's rules.

The real model is TFLite Micro's micro_speech_lstm.tflite (third_party/xtensa/examples/micro_speech_lstm:
LSTM [1,49,257] -> [1,49,80], RESHAPE, FULLY_CONNECTED, SOFTMAX).
"""

from __future__ import annotations

import dataclasses
import re
import subprocess

import flatbuffers
import numpy as np
import pytest

from conftest import FIXTURES, REPO
from pqk_mcu.codegen import generate_c
from pqk_mcu.errors import PqkError, UnsupportedModelError
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite, outline_tflite
from pqk_mcu.frontends.tflite_schema import FILE_IDENTIFIER, schema
from pqk_mcu.ir.builder import GraphBuilder, per_tensor
from pqk_mcu.ir.ops import LstmAttrs
from pqk_mcu.ir.summary import summarize
from pqk_mcu.ir.verify import verify_graph
from pqk_mcu.pipeline.verify import verify_model
from pqk_mcu.reference import run_reference
from pqk_mcu.runner.tflm import run_tflm, run_tflm_sequence
from pqk_mcu.verify import random_inputs

from op_checks import STREAM_PROGRAM

MICRO_SPEECH_LSTM = FIXTURES / "tflm" / "micro_speech_lstm.tflite"
ARENA = 1 << 20


def lstm_graph(seed: int, cell_scale_power: int = -11, cell_clip: float = 0.0, batch: int = 1, steps: int = 4,
               time_major: bool = False, input_size: int = 12, units: int = 8, weight_scales=(0.004, 0.02)):
    """One LSTM with random weights and biases; the default scales let the gates see ordinary values,
    larger ones saturate the gates' int16 sums and the sigmoid and tanh tables."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input((steps, batch, input_size) if time_major else (batch, steps, input_size), 0.05, 3)

    def weights(columns: int) -> str:
        scale = float(rng.uniform(*weight_scales))
        return b.constant(rng.integers(-127, 128, (units, columns)), "int8", per_tensor(scale))

    input_weights = [weights(input_size) for _ in range(4)]
    recurrent_weights = [weights(units) for _ in range(4)]
    biases = [b.constant(rng.integers(-4000, 4000, units), "int32", per_tensor(0.0002)) for _ in range(4)]
    hidden = b.state((batch, units), "int8", 1 / 128, -1)
    cell = b.state((batch, units), "int16", 2.0 ** cell_scale_power, 0)
    inputs = (x, *input_weights, *recurrent_weights, "", "", "", *biases, "", "", hidden, cell, "", "", "", "")
    y = b.op("UNIDIRECTIONAL_SEQUENCE_LSTM", inputs, LstmAttrs(cell_clip=cell_clip, time_major=time_major), 1 / 128, -1)
    return b.build([y])


LSTM_CASES = {
    "basic": dict(seed=1),
    "clipped": dict(seed=2, cell_clip=1.5),
    "cell_scale_2^-9": dict(seed=3, cell_scale_power=-9),
    "cell_scale_2^-14": dict(seed=4, cell_scale_power=-14, cell_clip=1.0),
    "batch_2": dict(seed=5, batch=2),
    "time_major_batch_2": dict(seed=6, batch=2, time_major=True),
    "saturated_gates": dict(seed=7, weight_scales=(0.2, 0.5), cell_scale_power=-9, steps=8),
}


@pytest.mark.parametrize("case", LSTM_CASES)
def test_reference_equals_tflm_over_a_sequence(case):
    graph = lstm_graph(**LSTM_CASES[case])
    model_bytes = export_tflite(graph)
    rng = np.random.default_rng(7)
    shape = graph.tensor_map[graph.inputs[0]].shape
    inputs = [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(4)]
    state: dict[str, np.ndarray] = {}
    outputs = []
    for x, expected in zip(inputs, run_tflm_sequence(model_bytes, [[x] for x in inputs], ARENA)):
        actual = run_reference(graph, [x], state=state)["outputs"][0]
        np.testing.assert_array_equal(actual, expected.outputs[0])
        outputs.append(actual)
    assert np.isin(np.array(outputs), (-128, 127)).mean() < 0.3  # ordinary values, not only saturated ones
    first = run_reference(graph, [inputs[0]])["outputs"][0]  # a fresh start without a state dict
    np.testing.assert_array_equal(first, run_tflm(model_bytes, [inputs[0]], ARENA).outputs[0])


def test_micro_speech_lstm_equals_tflm_op_by_op():
    """20 inputs, every op's output compared: the classifier's output alone saturates on most random
    inputs, the LSTM's 49 x 80 hidden states do not. Half the inputs lie near the input zero point."""
    graph = load_tflite(MICRO_SPEECH_LSTM)
    assert [op.kind for op in graph.ops] == ["UNIDIRECTIONAL_SEQUENCE_LSTM", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    assert graph.ops[0].attrs == LstmAttrs(cell_clip=10.0)
    rng = np.random.default_rng(1)
    hidden_values = set()
    for k in range(20):
        x = rng.integers(-128, 128, (1, 49, 257)) if k % 2 else np.clip(rng.normal(-100, 20, (1, 49, 257)), -128, 127)
        x = x.astype(np.int8)
        result = run_reference(graph, [x], keep_intermediates=True)
        run = run_tflm(MICRO_SPEECH_LSTM.read_bytes(), [x], ARENA)
        for op, outputs in zip(graph.ops, run.operator_outputs):
            np.testing.assert_array_equal(result["tensors"][op.outputs[0]], next(iter(outputs.values())),
                                          err_msg=f"input {k}, {op.name}")
        hidden_values.update(np.unique(result["tensors"][graph.ops[0].outputs[0]]).tolist())
    assert len(hidden_values) > 200  # the hidden state takes most int8 values


@pytest.mark.parametrize("board", ["reference", "host", "cortex-m4"])
def test_micro_speech_lstm_verifies(request, board):
    """``pqk-mcu verify micro_speech_lstm.tflite --inputs 20``: the reference against TFLite Micro, the host
    and cortex-m4 against the reference, every input from the initial state."""
    if board != "reference":
        request.getfixturevalue("toolchain")
    graph = load_tflite(MICRO_SPEECH_LSTM)
    report = verify_model(graph, MICRO_SPEECH_LSTM.read_bytes(), board, random_inputs(graph, 20, seed=0))
    assert report.inputs == 20 and report.mismatches == []


def test_export_round_trip_keeps_the_state_tensors_and_options():
    graph = load_tflite(MICRO_SPEECH_LSTM)
    exported = export_tflite(graph)
    assert load_tflite(exported) == graph
    model = schema.Model.GetRootAs(exported, 0)
    subgraph = model.Subgraphs(0)
    lstm = subgraph.Operators(0)
    inputs = [int(i) for i in lstm.InputsAsNumpy()]
    assert len(inputs) == 24 and [i for i in inputs if i < 0] == [-1] * 9
    assert subgraph.Tensors(inputs[18]).IsVariable() and subgraph.Tensors(inputs[19]).IsVariable()
    assert lstm.BuiltinOptionsType() == schema.BuiltinOptions.UnidirectionalSequenceLSTMOptions
    options = schema.UnidirectionalSequenceLSTMOptions()
    options.Init(lstm.BuiltinOptions().Bytes, lstm.BuiltinOptions().Pos)
    assert (options.CellClip(), options.TimeMajor(), options.FusedActivationFunction()) == (10.0, False, 4)


def test_inspect_no_longer_marks_the_lstm_unsupported():
    outline = outline_tflite(MICRO_SPEECH_LSTM)
    assert [op.index for op in outline if op.unsupported] == []
    assert outline[0].kind == "UNIDIRECTIONAL_SEQUENCE_LSTM"
    assert outline[0].inputs[18:20] == ["int8[1, 80]", "int16[1, 80]"]
    assert summarize(load_tflite(MICRO_SPEECH_LSTM)).layers[0].params == "cell clip 10"


def _replace_tensor(graph, name: str, **changes):
    return graph.replace(tensors=tuple(dataclasses.replace(t, **changes) if t.name == name else t
                                       for t in graph.tensors))


@pytest.mark.parametrize("change, message", [
    (lambda g, op: _replace_tensor(g, op.inputs[19], variable=False), "must be a variable (state) tensor"),
    (lambda g, op: _replace_tensor(g, op.inputs[19], dtype="int8"), "cell state"),
    (lambda g, op: _replace_tensor(g, op.inputs[18], dtype="int16"), "hidden state"),
    (lambda g, op: _replace_tensor(g, op.inputs[6], quant=per_tensor(0.01, 3)), "zero point 0"),
    (lambda g, op: _replace_tensor(g, op.inputs[13], dtype="int64", data=g.tensor(op.inputs[13]).data.astype("int64")),
     "must be int32"),
    (lambda g, op: g.replace(ops=(dataclasses.replace(op, inputs=op.inputs[:9] + (op.inputs[1],) + op.inputs[10:]),)),
     "peephole, projection or layer norm"),
])
def test_verifier_holds_lstm_to_tflite_micro_rules(change, message):
    graph = lstm_graph(seed=0)
    with pytest.raises(PqkError, match=re.escape(message)):
        verify_graph(change(graph, graph.ops[0]))


@pytest.mark.parametrize("case", LSTM_CASES)
def test_bit_exact_on_host(case):
    graph = lstm_graph(**LSTM_CASES[case])
    report = verify_model(graph, None, "host", random_inputs(graph, 4, seed=3))
    assert report.inputs == 4 and report.mismatches == []


@pytest.mark.parametrize("case", ["clipped", "cell_scale_2^-14", "time_major_batch_2"])
def test_bit_exact_in_qemu(toolchain, case):
    graph = lstm_graph(**LSTM_CASES[case])
    report = verify_model(graph, None, "cortex-m4", random_inputs(graph, 2, seed=4))
    assert report.inputs == 2 and report.mismatches == []


def test_generated_c_keeps_both_states_outside_the_arena(tmp_path):
    generated = generate_c(load_tflite(MICRO_SPEECH_LSTM), tmp_path / "gen")
    assert [layer.kernel for layer in generated.layers][0] == "pqk_lstm_s8"
    model_c = (tmp_path / "gen" / "model.c").read_text()
    assert "static int8_t pqk_state0[80];" in model_c and "static int16_t pqk_state1[80];" in model_c
    assert "pqk_state0[i] = -1;" in model_c  # the hidden state starts at its zero point, as TFLite Micro's
    assert "#define PQK_MODEL_HAS_STATE 1" in (tmp_path / "gen" / "model.h").read_text()


@pytest.mark.parametrize("case", ["clipped", "time_major_batch_2"])
def test_generated_c_carries_the_state_across_invocations(tmp_path, case):
    """The C model is a stream like TFLite Micro's interpreter: each invocation continues from the last
    one's hidden and cell state; pqk_model_reset() starts over."""
    graph = lstm_graph(**LSTM_CASES[case])
    generate_c(graph, tmp_path / "gen")
    (tmp_path / "main.c").write_text(STREAM_PROGRAM)
    runtime = tmp_path / "gen" / "runtime"
    executable = tmp_path / "stream"
    sources = [tmp_path / "gen" / "model.c", tmp_path / "gen" / "model_weights.c", runtime / "pqk_lstm_s8.c",
               tmp_path / "main.c"]
    command = ["gcc", "-std=c99", "-Wall", "-Werror", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
               "-I", str(tmp_path / "gen"), "-I", str(runtime), *map(str, sources), "-o", str(executable)]
    subprocess.run(command, check=True)
    rng = np.random.default_rng(8)
    shape = graph.tensor_map[graph.inputs[0]].shape
    inputs = [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(5)]
    (tmp_path / "in.bin").write_bytes(b"".join(x.tobytes() for x in inputs))
    subprocess.run([str(executable), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")], check=True)
    outputs = np.frombuffer((tmp_path / "out.bin").read_bytes(), dtype=np.int8).reshape(len(inputs) + 1, -1)
    model_bytes = export_tflite(graph)
    expected = [run.outputs[0].reshape(-1) for run in run_tflm_sequence(model_bytes, [[x] for x in inputs], ARENA)]
    expected.append(run_tflm(model_bytes, [inputs[0]], ARENA).outputs[0].reshape(-1))
    np.testing.assert_array_equal(outputs, np.array(expected))
    assert len({row.tobytes() for row in outputs[:-1]}) > 1 and (outputs[-1] == outputs[0]).all()


def _with_cell_activation(code: int) -> bytes:
    model = schema.ModelT.InitFromPackedBuf(MICRO_SPEECH_LSTM.read_bytes(), 0)
    model.subgraphs[0].operators[0].builtinOptions.fusedActivationFunction = code
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def test_a_cell_gate_activation_other_than_tanh_is_refused_cleanly(tmp_path):
    message = r"op 0 \(UNIDIRECTIONAL_SEQUENCE_LSTM\) uses cell gate activation code 1"
    with pytest.raises(UnsupportedModelError, match=message):
        load_tflite(_with_cell_activation(1))
    path = tmp_path / "relu_lstm.tflite"
    path.write_bytes(_with_cell_activation(1))
    command = [str(REPO / ".venv" / "bin" / "pqk-mcu"), "verify", str(path)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
