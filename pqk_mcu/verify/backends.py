"""Execution backends that ``pqk-mcu verify`` compares, by name.

A backend is a function ``run(graph, model_bytes, inputs) -> {"outputs": [...], "tensors": {...}}``:
``graph`` is the model's IR, ``model_bytes`` the .tflite it came from, ``inputs`` one array per
graph input. ``outputs`` holds one array per graph output; ``tensors`` maps IR tensor names to
the values the backend computed for op outputs (empty when the backend cannot expose them).

Backends are found by name: first in ``BACKENDS`` (``register_backend``), then by asking every
resolver added with ``register_resolver`` (for families of names such as boards). Modules that
define backends are listed in ``BACKEND_MODULES`` and imported on the first lookup.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from pqk_mcu.errors import PqkError
from pqk_mcu.ir.graph import Graph
from pqk_mcu.reference import run_reference

BackendResult = dict
Backend = Callable[[Graph, bytes, Sequence[np.ndarray]], BackendResult]
Resolver = Callable[[str], "Backend | None"]

BACKENDS: dict[str, Backend] = {}
_RESOLVERS: list[Resolver] = []
# Modules that register further backends when imported (host C build, QEMU boards, ...).
BACKEND_MODULES: tuple[str, ...] = ("pqk_mcu.runner.board_backend", "pqk_mcu.runner.host")
_modules_loaded = False


def register_backend(name: str, backend: Backend) -> None:
    BACKENDS[name] = backend


def register_resolver(resolver: Resolver) -> None:
    """``resolver(name)`` returns a backend for names it knows (e.g. board names), else None."""
    _RESOLVERS.append(resolver)


def get_backend(name: str) -> Backend:
    _load_backend_modules()
    if name in BACKENDS:
        return BACKENDS[name]
    for resolver in _RESOLVERS:
        backend = resolver(name)
        if backend is not None:
            return backend
    raise PqkError(f"unknown board or backend '{name}' (known: {', '.join(sorted(BACKENDS))})")


def _load_backend_modules() -> None:
    global _modules_loaded
    if not _modules_loaded:
        _modules_loaded = True
        for module in BACKEND_MODULES:
            importlib.import_module(module)


def reference_backend(graph: Graph, model_bytes: bytes, inputs: Sequence[np.ndarray]) -> BackendResult:
    return run_reference(graph, inputs, keep_intermediates=True)


def tflm_backend(graph: Graph, model_bytes: bytes, inputs: Sequence[np.ndarray]) -> BackendResult:
    """TensorFlow Lite Micro's Python interpreter with every tensor preserved for inspection.

    TFLM's op order and operator outputs are those of ``model_bytes``; they map onto the IR when
    ``graph`` is the import of those bytes (one IR op per operator). Otherwise only the graph
    outputs are compared.
    """
    interpreter, op_outputs = _tflm_interpreter(bytes(model_bytes), _arena_bytes(graph, model_bytes))
    for index, (name, array) in enumerate(zip(graph.inputs, inputs)):
        interpreter.set_input(np.ascontiguousarray(array, dtype=graph.tensor(name).dtype), index)
    try:
        interpreter.invoke()
    except RuntimeError as error:
        raise PqkError(f"TFLite Micro failed to run the model: {error}") from None
    outputs = [
        np.array(interpreter.get_output(i)).reshape(graph.tensor(name).shape) for i, name in enumerate(graph.outputs)
    ]
    tensors: dict[str, np.ndarray] = {}
    if len(op_outputs) == len(graph.ops):
        for op, tflm_indices in zip(graph.ops, op_outputs):
            for name, tensor_index in zip(op.outputs, tflm_indices):
                data = interpreter.GetTensor(tensor_index, 0)["tensor_data"]
                tensors[name] = np.array(data).reshape(graph.tensor(name).shape)
    return {"outputs": outputs, "tensors": tensors}


def _arena_bytes(graph: Graph, model_bytes: bytes) -> int:
    """Every tensor stays alive in preserve-all-tensors mode: room for all of them plus overhead."""
    activations = sum(t.nbytes for t in graph.tensors if not t.is_constant)
    return 10 * len(model_bytes) + 2 * activations + (256 << 10)


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
    return interpreter, op_outputs


register_backend("reference", reference_backend)
register_backend("tflm", tflm_backend)
