"""Immutable graph IR: tensors, typed ops, verifier, passes."""

from pqk_mcu.ir.graph import DTYPES, Graph, Op, QuantParams, Tensor
from pqk_mcu.ir.opdef import OP_DEFS, OpDef
from pqk_mcu.ir.ops import ACTIVATIONS, PADDINGS, SUPPORTED_OPS
from pqk_mcu.ir.shapes import infer_output_shapes
from pqk_mcu.ir.verify import verify_graph
from pqk_mcu.ir.builder import GraphBuilder

__all__ = [
    "ACTIVATIONS",
    "DTYPES",
    "OP_DEFS",
    "PADDINGS",
    "SUPPORTED_OPS",
    "Graph",
    "GraphBuilder",
    "Op",
    "OpDef",
    "QuantParams",
    "Tensor",
    "infer_output_shapes",
    "verify_graph",
]
