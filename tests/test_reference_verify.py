"""``pqk-mcu verify`` and the comparison library: reports, backends registry, exit codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pqk_mcu.cli import main
from pqk_mcu.errors import PqkError
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.pipeline import backends
from pqk_mcu.pipeline.backends import get_backend, register_resolver
from pqk_mcu.pipeline.verify import verify_model
from pqk_mcu.verify import load_input_file, random_inputs

FIXTURES = Path(__file__).parent / "fixtures"
RESNET = FIXTURES / "mlperf_tiny_ic_resnet8_int8.tflite"
TOYCAR = FIXTURES / "mlperf_tiny_ad_toycar_float_io.tflite"


def run_cli(capsys, *args) -> tuple[int, str, str]:
    try:
        main(["verify", *map(str, args)])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _perturbing_backend(op_index: int):
    """The reference with one op's output nudged by one step (and everything downstream recomputed
    from the reference, as a real faulty kernel would not; enough to test the report)."""

    def run(graph, model_bytes, inputs):
        result = backends.reference_backend(graph, model_bytes, inputs)
        name = graph.ops[op_index].outputs[0]
        broken = result["tensors"][name].copy()
        broken.flat[0] = broken.flat[0] + 1 if broken.flat[0] < 127 else broken.flat[0] - 1
        tensors = dict(result["tensors"], **{name: broken})
        outputs = [tensors[n] if n == name else o for n, o in zip(graph.outputs, result["outputs"])]
        if name not in graph.outputs:
            outputs = [o.copy() for o in outputs]
            outputs[0].flat[0] = outputs[0].flat[0] ^ 1
        return {"outputs": outputs, "tensors": tensors}

    return run


@pytest.fixture
def broken_board():
    def resolve(name: str):
        if name.startswith("broken-op-"):
            return _perturbing_backend(int(name.removeprefix("broken-op-")))
        return None

    register_resolver(resolve)
    yield
    backends._RESOLVERS.remove(resolve)


def test_cli_verify_passes_and_prints_summary_last(capsys):
    code, out, _ = run_cli(capsys, RESNET, "--board", "reference", "--inputs", 5, "--seed", 1)
    assert code == 0
    assert out.strip().splitlines()[-1] == "verified 5/5 inputs bit-exact on reference"


def test_cli_verify_float_io_model_from_npy(capsys, tmp_path):
    graph = load_tflite(TOYCAR)
    stack = np.stack([inputs[0] for inputs in random_inputs(graph, 4, seed=9)])
    np.save(tmp_path / "x.npy", stack)
    code, out, _ = run_cli(capsys, TOYCAR, "--input", tmp_path / "x.npy")
    assert code == 0
    assert out.strip().splitlines()[-1] == "verified 4/4 inputs bit-exact on reference"


def test_cli_verify_mismatch_names_first_layer_and_exits_1(capsys, broken_board):
    graph = load_tflite(RESNET)
    code, out, _ = run_cli(capsys, RESNET, "--board", "broken-op-4", "--inputs", 3)
    assert code == 1
    lines = out.strip().splitlines()
    assert lines[-1] == "verified 0/3 inputs bit-exact on broken-op-4"
    op = graph.ops[4]
    assert f"input 0: first differing layer: op 4 ({op.kind} '{op.name}') output '{op.outputs[0]}': 1/" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (("--board", "no-such-board"), "unknown board or backend 'no-such-board'"),
        (("--input", "missing.npy"), "cannot read input file missing.npy"),
    ],
)
def test_cli_verify_bad_input_exits_2_with_one_line(capsys, args, message):
    code, out, err = run_cli(capsys, RESNET, *args)
    assert code == 2
    assert err.strip() == f"error: {message}" or err.strip().startswith(f"error: {message}")
    assert len(err.strip().splitlines()) == 1


def test_cli_verify_unreadable_model_exits_2(capsys, tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer")
    code, _, err = run_cli(capsys, bad)
    assert code == 2 and err.startswith("error: ")


def test_load_input_file_shapes(tmp_path):
    graph = load_tflite(RESNET)
    shape = graph.tensor(graph.inputs[0]).shape
    np.save(tmp_path / "one.npy", np.zeros(shape, dtype=np.int8))
    np.save(tmp_path / "many.npy", np.zeros((3, *shape), dtype=np.int16))
    np.save(tmp_path / "wrong.npy", np.zeros((2, 5), dtype=np.int8))
    np.save(tmp_path / "range.npy", np.full(shape, 300, dtype=np.int16))
    assert len(load_input_file(graph, tmp_path / "one.npy")) == 1
    many = load_input_file(graph, tmp_path / "many.npy")
    assert len(many) == 3 and many[0][0].dtype == np.int8
    with pytest.raises(PqkError, match="has shape"):
        load_input_file(graph, tmp_path / "wrong.npy")
    with pytest.raises(PqkError, match="int16 values"):
        load_input_file(graph, tmp_path / "range.npy")


def test_random_inputs_are_seeded_and_cover_int8_range():
    graph = load_tflite(RESNET)
    a, b = random_inputs(graph, 2, seed=5), random_inputs(graph, 2, seed=5)
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(a, b))
    assert not np.array_equal(a[0][0], a[1][0])
    assert a[0][0].min() == -128 and a[0][0].max() == 127


def test_float_inputs_span_the_quantize_range():
    graph = load_tflite(TOYCAR)
    quantize = next(op for op in graph.ops if op.kind == "QUANTIZE")
    q = graph.tensor(quantize.outputs[0]).quant
    (inputs,) = random_inputs(graph, 1, seed=0)
    low, high = q.scale[0] * (-128 - q.zero_point[0]), q.scale[0] * (127 - q.zero_point[0])
    assert inputs[0].dtype == np.float32
    assert inputs[0].min() < low + (high - low) * 0.1 and inputs[0].max() > high - (high - low) * 0.1


def test_backend_registry_resolves_names_and_rejects_unknown():
    assert get_backend("reference") is backends.reference_backend
    assert get_backend("tflm") is backends.tflm_backend
    with pytest.raises(PqkError, match="unknown board"):
        get_backend("definitely-not-a-board")


def test_tflm_backend_exposes_every_intermediate():
    graph = load_tflite(RESNET)
    (inputs,) = random_inputs(graph, 1, seed=1)
    result = get_backend("tflm")(graph, RESNET.read_bytes(), inputs)
    assert set(result["tensors"]) == {name for op in graph.ops for name in op.outputs}


def test_verify_model_counts_every_input():
    graph = load_tflite(RESNET)
    report = verify_model(graph, RESNET.read_bytes(), "reference", random_inputs(graph, 3, seed=0))
    assert (report.inputs, report.bit_exact, report.oracle) == (3, 3, "tflm")
