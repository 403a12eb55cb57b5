"""Magnitude pruning of an int8 graph's weights (Graph -> Graph), e.g. to try sparse kernels on a
converter-made model: ``pqk-mcu prune MODEL --sparsity 0.9 -o OUT.tflite``.

PQK training prunes during training (pqk_mcu/train/pruning.py); this is the one-shot variant for
models that arrive already trained.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from pqk_mcu.errors import PqkError
from pqk_mcu.ir.graph import Graph
from pqk_mcu.ir.opdef import OP_DEFS


def prune_array(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """Zero the ``sparsity`` fraction of entries with the smallest magnitude (ties broken by position)."""
    flat = np.array(weights).reshape(-1)
    count = int(round(sparsity * flat.size))
    order = np.argsort(np.abs(flat.astype(np.int64)), kind="stable")
    flat[order[:count]] = 0
    return flat.reshape(np.shape(weights))


def prune_by_magnitude(graph: Graph, sparsity: float) -> Graph:
    """Zero the smallest-magnitude ``sparsity`` fraction of every weight tensor the op registry marks for
    pruning (``OpDef.pruned_slots``): conv / depthwise / FC / TRANSPOSE_CONV filters, SVDF feature weights,
    the LSTM's gate weights."""
    if not 0.0 <= sparsity < 1.0:
        raise PqkError(f"sparsity must be in [0, 1), got {sparsity:g}")
    weight_names = {op.inputs[slot] for op in graph.ops for slot in OP_DEFS[op.kind].pruned_slots}
    tensors = tuple(
        dataclasses.replace(t, data=prune_array(t.data, sparsity)) if t.name in weight_names and t.is_constant else t
        for t in graph.tensors
    )
    return graph.replace(tensors=tensors)
