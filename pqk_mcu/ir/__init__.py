"""Immutable graph IR: tensors, typed ops, verifier, passes."""

from pqk_mcu.ir.graph import DTYPES, Graph, Op, QuantParams, Tensor
from pqk_mcu.ir.ops import ACTIVATIONS, ATTRS_BY_KIND, PADDINGS, SUPPORTED_OPS

__all__ = ["ACTIVATIONS", "ATTRS_BY_KIND", "DTYPES", "PADDINGS", "SUPPORTED_OPS", "Graph", "Op", "QuantParams", "Tensor"]
