"""Compare a backend against its oracle on many inputs, output by output and layer by layer.

A backend is a function ``run(graph, model_bytes, inputs) -> {"outputs": [...], "tensors": {...}}``:
``graph`` is the model's IR, ``model_bytes`` the .tflite it came from, ``inputs`` one array per
graph input. ``outputs`` holds one array per graph output; ``tensors`` maps IR tensor names to
the values the backend computed for op outputs (empty when the backend cannot expose them).
The backends themselves are given by the caller (``pqk_mcu.pipeline.backends`` finds them by name).

``--board reference`` checks the reference interpreter against TensorFlow Lite Micro; any other
board is checked against the reference. Integers compare with ``==``; a float output (after a
DEQUANTIZE) must match bit for bit too, since both sides run the same float32 arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from pqk_mcu.errors import PqkError
from pqk_mcu.ir.graph import Graph, Tensor

BackendResult = dict
Backend = Callable[[Graph, bytes, Sequence[np.ndarray]], BackendResult]

# How far past the representable range random float inputs reach, so clamping gets exercised.
FLOAT_INPUT_MARGIN = 0.1


@dataclass(frozen=True)
class TensorDiff:
    """Where two runs disagree on one tensor."""

    tensor: str
    differing: int
    total: int
    max_abs_diff: float

    def describe(self) -> str:
        return f"'{self.tensor}': {self.differing}/{self.total} values differ, max |diff| {self.max_abs_diff:g}"


@dataclass(frozen=True)
class LayerDiff:
    op_index: int
    kind: str
    op_name: str
    diff: TensorDiff

    def describe(self) -> str:
        return f"op {self.op_index} ({self.kind} '{self.op_name}') output {self.diff.describe()}"


@dataclass(frozen=True)
class InputMismatch:
    input_index: int
    outputs: tuple[TensorDiff, ...]
    first_layer: LayerDiff | None
    layers_compared: bool

    def describe(self) -> list[str]:
        lines = [f"input {self.input_index}: output {d.describe()}" for d in self.outputs]
        if self.first_layer is not None:
            lines.append(f"input {self.input_index}: first differing layer: {self.first_layer.describe()}")
        elif not self.layers_compared:
            lines.append(f"input {self.input_index}: intermediate tensors unavailable, no layer comparison")
        return lines


@dataclass
class VerifyReport:
    board: str
    oracle: str
    inputs: int = 0
    mismatches: list[InputMismatch] = field(default_factory=list)

    @property
    def bit_exact(self) -> int:
        return self.inputs - len(self.mismatches)

    @property
    def passed(self) -> bool:
        return self.inputs > 0 and not self.mismatches

    def summary(self) -> str:
        return f"verified {self.bit_exact}/{self.inputs} inputs bit-exact on {self.board}"


def oracle_for(board: str) -> str:
    return "tflm" if board == "reference" else "reference"


def compare_backends(
    graph: Graph,
    model_bytes: bytes,
    input_sets: Iterable[Sequence[np.ndarray]],
    board: str,
    run_board: Backend,
    oracle: str,
    run_oracle: Backend,
    progress=None,
) -> VerifyReport:
    """Run every input set through ``run_board`` and ``run_oracle``; record each disagreement."""
    report = VerifyReport(board=board, oracle=oracle)
    for index, inputs in enumerate(input_sets):
        expected = run_oracle(graph, model_bytes, inputs)
        actual = run_board(graph, model_bytes, inputs)
        mismatch = compare_results(graph, index, expected, actual)
        report.inputs += 1
        if mismatch is not None:
            report.mismatches.append(mismatch)
        if progress is not None:
            progress(index)
    return report


def compare_results(graph: Graph, index: int, expected: dict, actual: dict) -> InputMismatch | None:
    output_diffs = tuple(
        d
        for name, a, b in zip(graph.outputs, expected["outputs"], actual["outputs"])
        if (d := tensor_diff(name, a, b)) is not None
    )
    if not output_diffs:
        return None
    expected_tensors, actual_tensors = expected.get("tensors", {}), actual.get("tensors", {})
    layers_compared = False
    for op_index, op in enumerate(graph.ops):
        for name in op.outputs:
            if name in expected_tensors and name in actual_tensors:
                layers_compared = True
                diff = tensor_diff(name, expected_tensors[name], actual_tensors[name])
                if diff is not None:
                    return InputMismatch(index, output_diffs, LayerDiff(op_index, op.kind, op.name, diff), True)
    return InputMismatch(index, output_diffs, None, layers_compared)


def tensor_diff(name: str, expected: np.ndarray, actual: np.ndarray) -> TensorDiff | None:
    expected, actual = np.asarray(expected), np.asarray(actual)
    if expected.shape != actual.shape:
        actual = actual.reshape(expected.shape) if actual.size == expected.size else actual
    if expected.shape != actual.shape:
        return TensorDiff(name, expected.size, expected.size, float("inf"))
    if expected.dtype.kind == "f" or actual.dtype.kind == "f":
        differs = expected.astype(np.float32).view(np.int32) != actual.astype(np.float32).view(np.int32)
    else:
        differs = expected.astype(np.int64) != actual.astype(np.int64)
    count = int(differs.sum())
    if count == 0:
        return None
    gap = np.abs(expected.astype(np.float64) - actual.astype(np.float64))
    return TensorDiff(name, count, int(expected.size), float(np.nanmax(np.where(differs, gap, 0.0))))


def random_inputs(graph: Graph, count: int, seed: int) -> list[list[np.ndarray]]:
    """``count`` input sets: int8 inputs uniform over [-128, 127]; float32 inputs uniform over the
    range their QUANTIZE can represent, widened by ``FLOAT_INPUT_MARGIN``."""
    return list(stream_random_inputs(graph, count, seed))


def stream_random_inputs(graph: Graph, count: int, seed: int) -> Iterator[list[np.ndarray]]:
    """``random_inputs`` made one set at a time: memory stays bounded for any ``count``."""
    rng = np.random.default_rng(seed)
    tensors = graph.tensor_map
    ranges = {name: _float_range(graph, name) for name in graph.inputs if tensors[name].dtype == "float32"}
    for _ in range(count):
        inputs = []
        for name in graph.inputs:
            t = tensors[name]
            if t.dtype == "float32":
                low, high = ranges[name]
                inputs.append(rng.uniform(low, high, size=t.shape).astype(np.float32))
            elif np.dtype(t.dtype).kind in "iu":
                info = np.iinfo(t.dtype)
                inputs.append(rng.integers(info.min, info.max, size=t.shape, endpoint=True, dtype=t.dtype))
            else:
                raise PqkError(f"cannot generate random values for input '{name}' of type {t.dtype}")
        yield inputs


def _float_range(graph: Graph, name: str) -> tuple[float, float]:
    for op in graph.ops:
        if op.kind == "QUANTIZE" and op.inputs[0] == name:
            q = graph.tensor(op.outputs[0]).quant
            low, high = q.scale[0] * (-128 - q.zero_point[0]), q.scale[0] * (127 - q.zero_point[0])
            margin = (high - low) * FLOAT_INPUT_MARGIN
            return low - margin, high + margin
    return -1.0, 1.0


def load_input_file(graph: Graph, path: str | Path) -> list[list[np.ndarray]]:
    """Input sets from a .npy file: one input of the model's shape, or a stack of them."""
    if len(graph.inputs) != 1:
        raise PqkError(f"--input takes a .npy for single-input models; this model has {len(graph.inputs)} inputs")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise PqkError(f"cannot read input file {path}: {error}") from None
    tensor = graph.tensor(graph.inputs[0])
    _check_dtype(tensor, array, path)
    if array.shape == tensor.shape:
        stack = array[None]
    elif array.shape[1:] == tensor.shape:
        stack = array
    elif array.ndim == len(tensor.shape) and array.shape[1:] == tensor.shape[1:]:
        stack = array.reshape(-1, 1, *tensor.shape[1:])
    else:
        raise PqkError(f"input file {path} has shape {array.shape}; expected {tensor.shape} or (N, *{tensor.shape})")
    if len(stack) == 0:
        raise PqkError(f"input file {path} holds no inputs")
    return [[np.asarray(x, dtype=tensor.dtype).reshape(tensor.shape)] for x in stack]


def _check_dtype(tensor: Tensor, array: np.ndarray, path) -> None:
    want = np.dtype(tensor.dtype)
    if array.dtype == want:
        return
    if want.kind in "iu" and array.dtype.kind in "iu":
        info = np.iinfo(want)
        if array.size == 0 or (array.min() >= info.min and array.max() <= info.max):
            return
    if want.kind == "f" and array.dtype.kind == "f":
        return
    raise PqkError(f"input file {path} holds {array.dtype} values; the model input '{tensor.name}' is {tensor.dtype}")
