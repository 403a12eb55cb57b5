"""The reference interpreter: runs a Graph op by op with the registered numpy kernels."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from pqk_mcu.errors import PqkError, UnsupportedModelError
from pqk_mcu.ir.graph import Graph, Op, Tensor
from pqk_mcu.ir.opdef import OP_DEFS
from pqk_mcu.ir.verify import verify_graph
from pqk_mcu.reference.registry import KERNELS, KernelCall


def run_reference(graph: Graph, inputs: Sequence[np.ndarray], keep_intermediates: bool = False,
                  state: dict[str, np.ndarray] | None = None) -> dict:
    """Run ``graph`` on ``inputs`` (one array per graph input, in order).

    Returns ``{"outputs": [array per graph output]}`` and, with ``keep_intermediates``, also
    ``"tensors"``: ``{tensor name: array}`` for the output of every op, in op order.

    Variable (state) tensors start from ``state`` ({tensor name: array}, absent ones at ``initial_state``) and
    their new values are written back into it: a caller that keeps one dict across calls carries
    the model's memory from one invocation to the next, as TFLite Micro's interpreter does. Without
    ``state`` every call starts from the initial state (a fresh interpreter).
    """
    verify_graph(graph)
    tensors = graph.tensor_map
    if len(inputs) != len(graph.inputs):
        raise PqkError(f"the model takes {len(graph.inputs)} input(s), got {len(inputs)}")
    values: dict[str, np.ndarray] = {t.name: t.data for t in graph.tensors if t.is_constant}
    for name, array in zip(graph.inputs, inputs):
        values[name] = _checked_input(tensors[name], array)
    state = {} if state is None else state
    for t in graph.tensors:
        if t.variable:
            values[t.name] = state.setdefault(t.name, initial_state(t))
    produced: dict[str, np.ndarray] = {}
    for index, op in enumerate(graph.ops):
        function = KERNELS.get(op.kind)
        if function is None:
            raise UnsupportedModelError(f"op {index} ({op.kind}): no reference kernel")
        call = KernelCall(
            op=op,
            inputs=[tensors[name] if name else None for name in op.inputs],
            outputs=[tensors[name] for name in op.outputs],
            values=[values[name] if name else None for name in op.inputs],
        )
        results = function(call)
        # A kernel of a stateful op returns its outputs, then the new values of its state inputs.
        for slot, array in zip(OP_DEFS[op.kind].state_slots, results[len(op.outputs):]):
            values[op.inputs[slot]] = state[op.inputs[slot]] = array
        for name, array in zip(op.outputs, results[: len(op.outputs)]):
            expected = tensors[name]
            if array.shape != expected.shape or array.dtype != np.dtype(expected.dtype):
                raise AssertionError(
                    f"op {index} ({op.kind}) kernel produced {array.dtype}{array.shape} for "
                    f"'{name}', expected {expected.dtype}{expected.shape}"
                )
            array.setflags(write=False)
            values[name] = array
            produced[name] = array
    result = {"outputs": [values[name] for name in graph.outputs]}
    if keep_intermediates:
        result["tensors"] = produced
    return result


def initial_state(tensor: Tensor) -> np.ndarray:
    """A variable tensor's value before the first invocation, as TFLite Micro resets it: an int8 one
    holds its zero point (the real value 0), any other type zeros."""
    fill = tensor.per_tensor_quant[1] if tensor.dtype == "int8" and tensor.quant else 0
    return np.full(tensor.shape, fill, dtype=tensor.dtype)


def _checked_input(tensor: Tensor, array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.size != tensor.size:
        raise PqkError(f"input '{tensor.name}' needs shape {tensor.shape}, got {array.shape}")
    dtype = np.dtype(tensor.dtype)
    if array.dtype != dtype:
        if dtype.kind in "iu" and array.dtype.kind in "iu":
            info = np.iinfo(dtype)
            if array.size and (array.min() < info.min or array.max() > info.max):
                raise PqkError(f"input '{tensor.name}' has values outside the {tensor.dtype} range")
        elif not (dtype.kind == "f" and array.dtype.kind in "fiu"):
            raise PqkError(f"input '{tensor.name}' must be {tensor.dtype}, got {array.dtype}")
        array = array.astype(dtype)
    return array.reshape(tensor.shape)


def unary_table(op: Op, source: Tensor, target: Tensor, constants: tuple[Tensor, ...] = ()) -> np.ndarray:
    """The int8 output of a one-input element-wise ``op`` for every input -128..127 (a lookup table); also of
    a FULLY_CONNECTED of one input and one output feature (``constants``: the tensors of its other inputs),
    whose every output depends on one input value, probed as 256 batches."""
    shape = (256, 1) if op.kind == "FULLY_CONNECTED" else (1, 256)
    probe = Graph(
        tensors=(dataclasses.replace(source, shape=shape, data=None), dataclasses.replace(target, shape=shape, data=None),
                 *constants),
        ops=(dataclasses.replace(op, inputs=(source.name, *op.inputs[1:]), outputs=(target.name,)),),
        inputs=(source.name,),
        outputs=(target.name,),
    )
    every_value = np.arange(-128, 128, dtype=np.int8).reshape(shape)
    return run_reference(probe, [every_value])["outputs"][0].reshape(-1)
