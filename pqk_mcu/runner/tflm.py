"""TensorFlow Lite Micro's Python interpreter as a tool: .tflite bytes and inputs in; the outputs and
every operator's output tensors (by .tflite tensor index) out, all tensors preserved for inspection."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from pqk_mcu.errors import PqkError


@dataclass(frozen=True)
class TflmRun:
    outputs: list[np.ndarray]                      # one array per model output, as TFLM returns it
    operator_outputs: list[dict[int, np.ndarray]]  # per operator, in model order: tensor index -> value


def run_tflm(model_bytes: bytes, inputs: Sequence[np.ndarray], arena_size: int) -> TflmRun:
    """Invoke the model once on ``inputs`` (one array per model input, of the input's dtype), from
    a reset interpreter: variable (state) tensors start from their initial value on every call."""
    return run_tflm_sequence(model_bytes, [inputs], arena_size)[0]


def run_tflm_sequence(model_bytes: bytes, input_sets: Sequence[Sequence[np.ndarray]], arena_size: int) -> list[TflmRun]:
    """Invoke the model on each input set in turn from a reset interpreter, the variable (state)
    tensors carried from one invocation to the next (a stream)."""
    interpreter, output_count, op_outputs = _tflm_interpreter(bytes(model_bytes), arena_size)
    interpreter.reset()
    return [_invoke(interpreter, output_count, op_outputs, inputs) for inputs in input_sets]


def _invoke(interpreter, output_count: int, op_outputs, inputs: Sequence[np.ndarray]) -> TflmRun:
    for index, array in enumerate(inputs):
        interpreter.set_input(array, index)
    try:
        interpreter.invoke()
    except RuntimeError as error:
        raise PqkError(f"TFLite Micro failed to run the model: {error}") from None
    return TflmRun(
        outputs=[np.array(interpreter.get_output(i)) for i in range(output_count)],
        operator_outputs=[
            {index: np.array(interpreter.GetTensor(index, 0)["tensor_data"]) for index in indices}
            for indices in op_outputs
        ],
    )


@lru_cache(maxsize=4)
def _tflm_interpreter(model_bytes: bytes, arena_size: int):
    from tflite_micro.python.tflite_micro import runtime
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    try:
        interpreter = runtime.Interpreter.from_bytes(
            model_bytes, arena_size=arena_size, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors
        )
    except (RuntimeError, ValueError) as error:
        raise PqkError(f"TFLite Micro cannot load the model: {error}") from None
    subgraph = schema.Model.GetRootAsModel(model_bytes, 0).Subgraphs(0)
    op_outputs = [
        tuple(int(i) for i in subgraph.Operators(k).OutputsAsNumpy()) for k in range(subgraph.OperatorsLength())
    ]
    return interpreter, subgraph.OutputsLength(), op_outputs
