"""Bytes in and out of the generated int8 C core, in terms of the original graph.

The C core (``pqk_model_invoke``) takes its inputs and returns its outputs as int8 bytes (little-endian
int16 in 16x8 models), concatenated in graph order. Models with float edges have their QUANTIZE/DEQUANTIZE edge ops
split off by the pass pipeline; ``CoreIO`` runs those edge ops with the reference interpreter,
so a backend that executes the C (QEMU, host) sees exactly the arrays the original graph
takes and returns. Op-output traces (``pqk_after_op`` records, ``pqk_mcu.runner.trace``) map
back to tensor names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pqk_mcu.errors import PqkError
from pqk_mcu.ir.graph import Graph, Op
from pqk_mcu.ir.passes import edge_graph, split_edge_ops
from pqk_mcu.reference import run_reference


@dataclass(frozen=True)
class CoreIO:
    original: Graph       # the graph the user's inputs belong to
    core: Graph           # the int8 graph the C implements (GeneratedModel.graph)
    layer_outputs: tuple[str, ...]  # tensor written by op i of the C (GeneratedModel.layers[i].output)

    @classmethod
    def of(cls, original: Graph, generated) -> "CoreIO":
        """From the graph given to ``generate_c`` and the ``GeneratedModel`` it returned."""
        return cls(original, generated.graph, tuple(layer.output for layer in generated.layers))

    def core_inputs(self, inputs: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Core input name -> the int8 array ``pqk_model_invoke`` reads, for one set of original-graph inputs."""
        if len(inputs) != len(self.original.inputs):
            raise PqkError(f"the model takes {len(self.original.inputs)} input(s), got {len(inputs)}")
        quantize_ops, _ = split_edge_ops(self.original, self.core)
        by_source = {op.inputs[0]: op for op in quantize_ops}
        arrays = {}
        for name, core_name, array in zip(self.original.inputs, self.core.inputs, inputs):
            if name in by_source:
                array = self._edge(by_source[name], array)
            tensor = self.core.tensor(core_name)
            array = np.asarray(array)
            if array.dtype != np.dtype(tensor.dtype) or array.size != tensor.size:
                raise PqkError(
                    f"input '{name}' must be {tensor.dtype} with {tensor.size} values for the C core, "
                    f"got {array.dtype}{array.shape}"
                )
            arrays[core_name] = np.ascontiguousarray(array)
        return arrays

    def input_bytes(self, inputs: Sequence[np.ndarray]) -> bytes:
        """The bytes ``pqk_model_invoke`` reads for one set of original-graph inputs."""
        return self.pack(self.core_inputs(inputs))

    @staticmethod
    def pack(core_inputs: dict[str, np.ndarray]) -> bytes:
        """The bytes ``pqk_model_invoke`` reads for ``core_inputs`` (from ``core_inputs``)."""
        return b"".join(array.tobytes() for array in core_inputs.values())

    def outputs(self, data: bytes) -> list[np.ndarray]:
        """The original graph's outputs from the bytes ``pqk_model_invoke`` wrote."""
        expected = sum(self.core.tensor(name).nbytes for name in self.core.outputs)
        if len(data) != expected:
            raise PqkError(f"the C core wrote {len(data)} output bytes, expected {expected}")
        _, dequantize_ops = split_edge_ops(self.original, self.core)
        by_target = {op.outputs[0]: op for op in dequantize_ops}
        results, offset = [], 0
        for name, core_name in zip(self.original.outputs, self.core.outputs):
            tensor = self.core.tensor(core_name)
            array = np.frombuffer(data, dtype=_little_endian(tensor), count=tensor.size, offset=offset)
            array = array.reshape(tensor.shape)
            offset += tensor.nbytes
            if name in by_target:
                array = self._edge(by_target[name], array)
            results.append(array.reshape(self.original.tensor(name).shape))
        return results

    def tensors(self, trace: Sequence[tuple[int, bytes]]) -> dict[str, np.ndarray]:
        """Tensor name -> value for every traced op output (records of ``pqk_after_op``)."""
        values = {}
        for index, data in trace:
            if not 0 <= index < len(self.layer_outputs):
                raise PqkError(f"trace names op {index}; the model has {len(self.layer_outputs)} ops")
            tensor = self.core.tensor(self.layer_outputs[index])
            if len(data) != tensor.nbytes:
                raise PqkError(f"trace of op {index} holds {len(data)} bytes, '{tensor.name}' has {tensor.nbytes}")
            array = np.frombuffer(data, dtype=_little_endian(tensor)).reshape(tensor.shape)
            values[tensor.name] = array.astype(tensor.dtype)
        return values

    def result(self, core_inputs: dict[str, np.ndarray], data: bytes,
               trace: Sequence[tuple[int, bytes]]) -> dict:
        """One run as a verify backend reports it: the original graph's outputs, and as tensors every
        traced op output plus the float-edge values (quantized inputs from ``core_inputs``, dequantized outputs)."""
        outputs = self.outputs(data)
        tensors = {name: array for name, array in core_inputs.items() if name not in self.original.inputs}
        tensors.update(self.tensors(trace))
        tensors.update((name, array) for name, array in zip(self.original.outputs, outputs) if name not in self.core.outputs)
        return {"outputs": outputs, "tensors": tensors}

    def _edge(self, op: Op, array: np.ndarray) -> np.ndarray:
        return run_reference(edge_graph(self.original, op), [array])["outputs"][0]



def _little_endian(tensor) -> np.dtype:
    """The dtype of ``tensor``'s bytes as the C core (on little-endian targets) reads and writes them."""
    return np.dtype(tensor.dtype).newbyteorder("<")
