"""The .tflite importer: real converter models load and verify; malformed or unsupported files
give one-line errors naming the op or tensor; the CLI turns them into exit code 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import flatbuffers
import numpy as np
import pytest

from conftest import REPO, SHARED_MODELS
from pqk_mcu.errors import PqkError, UnsupportedModelError
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.frontends.tflite_schema import FILE_IDENTIFIER, schema
from pqk_mcu.ir import verify_graph
from pqk_mcu.ir.ops import SUPPORTED_OPS

FIXTURES = REPO / "tests" / "fixtures"
HELLO = FIXTURES / "hello_world_int8.tflite"
PQK_MCU = REPO / ".venv" / "bin" / "pqk-mcu"
SINE_FLOAT = Path(schema.__file__).parents[4] / "python" / "tflite_micro" / "sine_float.tflite"


def _mutated(path: Path, change) -> bytes:
    """The model at ``path`` re-packed after ``change(model_t)`` edits its object tree."""
    model = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    change(model)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def _assert_one_line(error: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize("path", SHARED_MODELS, ids=lambda p: p.name)
def test_fixture_loads_and_verifies(path: Path) -> None:
    graph = load_tflite(path)
    verify_graph(graph)
    assert graph.ops and graph.inputs and graph.outputs
    assert {op.kind for op in graph.ops} <= set(SUPPORTED_OPS)
    assert len({t.name for t in graph.tensors}) == len(graph.tensors)
    assert load_tflite(path.read_bytes()) == graph


def test_fixture_details() -> None:
    speech = load_tflite(FIXTURES / "micro_speech_quantized.tflite")
    kinds = [op.kind for op in speech.ops]
    assert kinds == ["RESHAPE", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX"]
    depthwise = speech.ops[1]
    assert depthwise.attrs.depth_multiplier == 8 and depthwise.attrs.stride_h == 2
    assert depthwise.attrs.activation == "RELU"
    assert speech.ops[0].attrs.new_shape == (1, 49, 40, 1)  # the -1 is resolved from the input size
    weights = speech.tensor(depthwise.inputs[1])
    assert weights.quant.axis == 3 and len(weights.quant.scale) == 8
    assert speech.tensor(depthwise.inputs[2]).quant.axis == 0
    assert speech.metadata_map["min_runtime_version"] == "1.5.0"

    toycar = load_tflite(FIXTURES / "mlperf_tiny_ad_toycar_float_io.tflite")
    assert toycar.ops[0].kind == "QUANTIZE" and toycar.ops[-1].kind == "DEQUANTIZE"
    assert toycar.tensor(toycar.inputs[0]).dtype == "float32"
    assert toycar.tensor(toycar.outputs[0]).dtype == "float32"

    hello = load_tflite(HELLO)
    assert hello.tensor(hello.inputs[0]).shape == (1, 1)  # batch -1 in the signature is pinned to 1
    assert "CONVERSION_METADATA" not in hello.metadata_map  # binary metadata is dropped


def test_duplicate_tensor_names_are_made_unique() -> None:
    def rename(model) -> None:
        for tensor in model.subgraphs[0].tensors:
            tensor.name = "same"

    graph = load_tflite(_mutated(HELLO, rename))
    names = [t.name for t in graph.tensors]
    assert len(set(names)) == len(names) and "same" in names


def test_text_metadata_is_kept() -> None:
    def add_labels(model) -> None:
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(b"yes\nno\nsilence\0", dtype=np.uint8)
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = "pqk_labels"
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)

    graph = load_tflite(_mutated(HELLO, add_labels))
    assert graph.metadata_map["pqk_labels"] == "yes\nno\nsilence"


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"", "too short"),
        (b"TFL", "too short"),
        (np.random.default_rng(0).bytes(3000), "not a .tflite model"),
        (HELLO.read_bytes()[:1500], "malformed"),
        (HELLO.read_bytes()[:8] + np.random.default_rng(1).bytes(2000), "malformed"),
    ],
    ids=["empty", "tiny", "random", "truncated", "garbage-after-header"],
)
def test_malformed_bytes(data: bytes, fragment: str) -> None:
    with pytest.raises(PqkError) as error:
        load_tflite(data)
    _assert_one_line(error, fragment)


def test_every_truncation_and_byte_flip_is_a_pqk_error() -> None:
    data = HELLO.read_bytes()
    rng = np.random.default_rng(7)
    cases = [data[:cut] for cut in range(0, len(data), 37)]
    for _ in range(200):
        corrupt = bytearray(data)
        for position in rng.integers(8, len(corrupt), 4):
            corrupt[position] = rng.integers(0, 256)
        cases.append(bytes(corrupt))
    for case in cases:
        try:
            load_tflite(case)
        except PqkError as error:
            assert "\n" not in str(error)


def _set_opcode(name: str):
    def change(model) -> None:
        code = getattr(schema.BuiltinOperator, name)
        model.operatorCodes[0].builtinCode = code
        model.operatorCodes[0].deprecatedBuiltinCode = min(code, 127)

    return change


def _set_tensor(index: int, **fields):
    def change(model) -> None:
        for key, value in fields.items():
            setattr(model.subgraphs[0].tensors[index], key, value)

    return change


def _duplicate_subgraph(model) -> None:
    model.subgraphs.append(model.subgraphs[0])


@pytest.mark.parametrize(
    "change, error_type, fragments",
    [
        (_set_opcode("LSH_PROJECTION"), UnsupportedModelError, ["op 0 (LSH_PROJECTION)", "not supported"]),
        (_set_opcode("CUSTOM"), UnsupportedModelError, ["op 0", "custom op"]),
        # FULLY_CONNECTED runs 16x8, so an int16 input is held to 16x8's zero point 0
        (_set_tensor(0, type=schema.TensorType.INT16), PqkError, ["op 0 (FULLY_CONNECTED)", "int16", "zero point -128"]),
        (_set_tensor(0, shapeSignature=[1, -1]), UnsupportedModelError, ["tensor 0", "dynamic shape"]),
        (_set_tensor(0, shape=[1, 0]), UnsupportedModelError, ["tensor 0", "zero-sized"]),
        (_set_tensor(2, buffer=99), PqkError, ["tensor 2", "buffer 99"]),
        (_set_tensor(0, type=schema.TensorType.COMPLEX64), UnsupportedModelError, ["tensor 0", "COMPLEX64"]),
        (_duplicate_subgraph, UnsupportedModelError, ["2 subgraphs"]),
    ],
    ids=["unsupported-op", "custom-op", "int16", "dynamic", "zero-sized", "bad-buffer", "complex", "subgraphs"],
)
def test_unsupported_models(change, error_type, fragments) -> None:
    with pytest.raises(error_type) as error:
        load_tflite(_mutated(HELLO, change))
    _assert_one_line(error, *fragments)


def test_float_model_is_rejected() -> None:
    with pytest.raises(UnsupportedModelError) as error:
        load_tflite(SINE_FLOAT)
    _assert_one_line(error, "op 0 (FULLY_CONNECTED)", "float", str(SINE_FLOAT))


def test_path_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(PqkError) as error:
        load_tflite(tmp_path / "missing.tflite")
    _assert_one_line(error, "missing.tflite", "cannot read")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(PQK_MCU), *args], capture_output=True, text=True, timeout=120)


def test_cli_inspect_json_and_errors(tmp_path: Path) -> None:
    result = _cli("inspect", str(FIXTURES / "micro_speech_quantized.tflite"), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert [layer["kind"] for layer in summary["layers"]][1] == "DEPTHWISE_CONV_2D"

    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(np.random.default_rng(3).bytes(512))
    result = _cli("inspect", str(garbage))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "garbage.tflite" in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_unsupported_model_exits_2(tmp_path: Path) -> None:
    model = tmp_path / "lsh_projection.tflite"
    model.write_bytes(_mutated(HELLO, _set_opcode("LSH_PROJECTION")))
    result = _cli("compile", str(model), "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {model}: op 0 (LSH_PROJECTION) is not supported by pqk-mcu"


def test_cli_inspect_marks_unsupported_ops(tmp_path: Path) -> None:
    model = tmp_path / "lsh_projection.tflite"
    model.write_bytes(_mutated(HELLO, _set_opcode("LSH_PROJECTION")))
    result = _cli("inspect", str(model), "--json")
    assert result.returncode == 0, result.stderr
    outline = json.loads(result.stdout)
    assert not outline["supported"]
    assert outline["refusal"] == f"{model}: op 0 (LSH_PROJECTION) is not supported by pqk-mcu"
    assert [(op["kind"], op["unsupported"]) for op in outline["ops"]] == [
        ("LSH_PROJECTION", f"op {index} (LSH_PROJECTION) is not supported by pqk-mcu") for index in range(3)
    ]  # the three FULLY_CONNECTED ops share the one operator code changed
    assert outline["ops"][1]["inputs"] == ["int8[1, 16]", "int8[16, 16]", "int32[16]"]

    result = _cli("inspect", str(model))
    assert result.returncode == 0, result.stderr
    assert "LSH_PROJECTION" in result.stdout and "3 unsupported" in result.stdout
    assert "pqk-mcu cannot compile this model: compile, build and verify refuse it" in result.stdout


def test_cli_inspect_lists_a_model_the_verifier_refuses(tmp_path: Path) -> None:
    def misscaled_bias(model) -> None:
        subgraph = model.subgraphs[0]
        quantization = subgraph.tensors[subgraph.operators[1].inputs[2]].quantization
        quantization.scale = [10 * float(quantization.scale[0])]

    model = tmp_path / "misscaled_bias.tflite"
    model.write_bytes(_mutated(HELLO, misscaled_bias))
    result = _cli("inspect", str(model), "--json")
    assert result.returncode == 0, result.stderr
    outline = json.loads(result.stdout)
    assert "op 1 (FULLY_CONNECTED): bias" in outline["refusal"] and "expected input scale x weight scale" in outline["refusal"]
    assert [op["unsupported"] for op in outline["ops"]] == ["", "", ""]  # each op imports; the graph is refused


def test_convolutions_without_bias_get_a_zero_bias() -> None:
    def drop_biases(model) -> None:
        operators = model.subgraphs[0].operators
        operators[0].inputs = [int(operators[0].inputs[0]), int(operators[0].inputs[1]), -1]  # DEPTHWISE_CONV_2D
        operators[2].inputs = [int(v) for v in operators[2].inputs[:2]]  # CONV_2D

    graph = load_tflite(_mutated(FIXTURES / "person_detect.tflite", drop_biases))
    for index, channels in ((0, 8), (2, 16)):
        bias = graph.tensor(graph.ops[index].inputs[2])
        assert bias.name.endswith("/zero_bias") and bias.shape == (channels,) and not bias.data.any()
    verify_graph(graph)
