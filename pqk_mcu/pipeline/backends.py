"""Execution backends that ``pqk-mcu verify`` compares, by name (``pqk_mcu.verify.compare`` says what a
backend is).

Backends are found by name: first in ``BACKENDS`` (``register_backend``: reference, tflm, host), then by
asking every resolver added with ``register_resolver`` (for families of names such as boards).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from pqk_mcu.errors import PqkError
from pqk_mcu.frontends.tflite import tflite_inputs
from pqk_mcu.ir.graph import Graph
from pqk_mcu.pipeline.board_backend import board_backend
from pqk_mcu.pipeline.host import host_backend
from pqk_mcu.reference import run_reference
from pqk_mcu.runner.tflm import run_tflm
from pqk_mcu.verify import Backend, BackendResult

Resolver = Callable[[str], "Backend | None"]

BACKENDS: dict[str, Backend] = {}
_RESOLVERS: list[Resolver] = []


def register_backend(name: str, backend: Backend) -> None:
    BACKENDS[name] = backend


def register_resolver(resolver: Resolver) -> None:
    """``resolver(name)`` returns a backend for names it knows (e.g. board names), else None."""
    _RESOLVERS.append(resolver)


def get_backend(name: str) -> Backend:
    if name in BACKENDS:
        return BACKENDS[name]
    for resolver in _RESOLVERS:
        backend = resolver(name)
        if backend is not None:
            return backend
    raise PqkError(f"unknown board or backend '{name}' (known: {', '.join(sorted(BACKENDS))})")


def reference_backend(graph: Graph, model_bytes: bytes, inputs: Sequence[np.ndarray]) -> BackendResult:
    return run_reference(graph, inputs, keep_intermediates=True)


def tflm_backend(graph: Graph, model_bytes: bytes, inputs: Sequence[np.ndarray]) -> BackendResult:
    """TensorFlow Lite Micro's Python interpreter with every tensor preserved for inspection.

    TFLM's op order and operator outputs are those of ``model_bytes``; they map onto the IR when
    ``graph`` is the import of those bytes (one IR op per operator). Otherwise only the graph
    outputs are compared.
    """
    run = run_tflm(model_bytes, model_file_inputs(graph, model_bytes, inputs), _arena_bytes(graph, model_bytes))
    outputs = [array.reshape(graph.tensor(name).shape) for array, name in zip(run.outputs, graph.outputs)]
    tensors: dict[str, np.ndarray] = {}
    if len(run.operator_outputs) == len(graph.ops):
        for op, operator_outputs in zip(graph.ops, run.operator_outputs):
            for name, array in zip(op.outputs, operator_outputs.values()):
                tensors[name] = array.reshape(graph.tensor(name).shape)
    return {"outputs": outputs, "tensors": tensors}


def model_file_inputs(graph: Graph, model_bytes: bytes, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """One array per input of the file: the graph's in order, and for an input the import folded into a
    constant (a TRANSPOSE_CONV output shape) that constant's value."""
    file_inputs = tflite_inputs(model_bytes)
    if len(file_inputs) == len(graph.inputs):
        return [np.ascontiguousarray(array, dtype=graph.tensor(name).dtype)
                for name, array in zip(graph.inputs, inputs)]
    given = dict(zip(graph.inputs, inputs))
    return [np.ascontiguousarray(given[name] if name in given else graph.tensor(name).data, dtype=dtype)
            for name, dtype in file_inputs]


def _arena_bytes(graph: Graph, model_bytes: bytes) -> int:
    """Every tensor stays alive in preserve-all-tensors mode: room for all of them plus overhead."""
    activations = sum(t.nbytes for t in graph.tensors if not t.is_constant)
    return 10 * len(model_bytes) + 2 * activations + (256 << 10)


register_backend("reference", reference_backend)
register_backend("tflm", tflm_backend)
register_backend("host", host_backend)
register_resolver(board_backend)
