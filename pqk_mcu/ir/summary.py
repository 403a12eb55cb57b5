"""Per-layer model summary behind ``pqk-mcu inspect``: shapes, key parameters, weight counts,
multiply-accumulates and weight sparsity, plus totals.

MACs count the multiply-accumulates of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED (the work
the sparse kernels save); other ops are reported with 0 MACs. Sparsity is the fraction of zero
weight values (biases excluded).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from rich.table import Table

from pqk_mcu.ir.graph import Graph, Op, Tensor
from pqk_mcu.ir.opdef import OP_DEFS


@dataclass(frozen=True)
class LayerSummary:
    index: int
    kind: str
    name: str
    input_shapes: list[list[int]]
    output_shape: list[int]
    params: str
    weight_count: int
    bias_count: int
    macs: int
    zero_weights: int
    sparsity: float | None


@dataclass(frozen=True)
class ModelSummary:
    layers: list[LayerSummary]
    inputs: list[dict]
    outputs: list[dict]
    total_weights: int
    total_biases: int
    total_macs: int
    total_zero_weights: int
    sparsity: float | None
    constant_bytes: int
    metadata: dict[str, str]

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(graph: Graph) -> ModelSummary:
    tensors = graph.tensor_map
    layers = [_layer(index, op, tensors) for index, op in enumerate(graph.ops)]
    total_weights = sum(layer.weight_count for layer in layers)
    total_zero = sum(layer.zero_weights for layer in layers)
    return ModelSummary(
        layers=layers,
        inputs=[_edge(tensors[name]) for name in graph.inputs],
        outputs=[_edge(tensors[name]) for name in graph.outputs],
        total_weights=total_weights,
        total_biases=sum(layer.bias_count for layer in layers),
        total_macs=sum(layer.macs for layer in layers),
        total_zero_weights=total_zero,
        sparsity=total_zero / total_weights if total_weights else None,
        constant_bytes=sum(t.nbytes for t in graph.tensors if t.is_constant),
        metadata=graph.metadata_map,
    )


def _edge(t: Tensor) -> dict:
    quant = None if t.quant is None else {"scale": t.quant.scale[0], "zero_point": t.quant.zero_point[0]}
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "quant": quant}


def _layer(index: int, op: Op, tensors) -> LayerSummary:
    definition = OP_DEFS[op.kind]
    activations = [tensors[n] for slot, n in enumerate(op.inputs) if n and slot not in definition.constant_slots]
    output = tensors[op.outputs[0]]
    weight_count = bias_count = zero_weights = macs = 0
    sparsity = None
    if definition.weighted:
        weights = tensors[op.inputs[1]]
        weight_count = weights.size
        zero_weights = int(np.count_nonzero(weights.data == 0))
        sparsity = zero_weights / weight_count
        if len(op.inputs) > 2 and op.inputs[2]:
            bias_count = tensors[op.inputs[2]].size
        macs = _macs(op, activations[0], weights, output)
    return LayerSummary(
        index=index,
        kind=op.kind,
        name=op.name,
        input_shapes=[list(t.shape) for t in activations],
        output_shape=list(output.shape),
        params=_params(op),
        weight_count=weight_count,
        bias_count=bias_count,
        macs=macs,
        zero_weights=zero_weights,
        sparsity=sparsity,
    )


def _macs(op: Op, x: Tensor, weights: Tensor, output: Tensor) -> int:
    if op.kind == "CONV_2D":
        _, k_h, k_w, in_c = weights.shape
        return output.size * k_h * k_w * in_c
    if op.kind == "DEPTHWISE_CONV_2D":
        _, k_h, k_w, _ = weights.shape
        return output.size * k_h * k_w
    return output.size * weights.shape[1]  # FULLY_CONNECTED: every output sums `in` products


def _params(op: Op) -> str:
    a = op.attrs
    parts = [f"{len(op.outputs)} outputs"] if len(op.outputs) > 1 else []  # the output column shows the first
    if hasattr(a, "filter_h"):
        parts.append(f"filter {a.filter_h}x{a.filter_w}")
    if hasattr(a, "stride_h"):
        parts.append(f"stride {a.stride_h}x{a.stride_w}")
    if getattr(a, "dilation_h", 1) != 1 or getattr(a, "dilation_w", 1) != 1:
        parts.append(f"dilation {a.dilation_h}x{a.dilation_w}")
    if hasattr(a, "padding"):
        parts.append(a.padding)
    if getattr(a, "depth_multiplier", 1) != 1:
        parts.append(f"multiplier {a.depth_multiplier}")
    if getattr(a, "keep_num_dims", False):
        parts.append("keep_num_dims")
    if hasattr(a, "axis"):
        parts.append(f"axis {a.axis}")
    if hasattr(a, "keep_dims"):
        parts.append("keep_dims" if a.keep_dims else "reduce")
    if hasattr(a, "rank"):
        parts.append(f"rank {a.rank}")
    if hasattr(a, "beta"):
        parts.append(f"beta {a.beta:g}")
    if getattr(a, "cell_clip", 0.0):
        parts.append(f"cell clip {a.cell_clip:g}")
    if getattr(a, "time_major", False):
        parts.append("time major")
    if getattr(a, "activation", "NONE") != "NONE":
        parts.append(a.activation)
    return " ".join(parts)


def _shape(shape: list[int]) -> str:
    return "x".join(str(d) for d in shape) or "scalar"


def render_table(summary: ModelSummary, title: str = "") -> Table:
    """A rich table with one row per op and a totals row."""
    table = Table(title=title or None, show_footer=False)
    for header, justify in (
        ("#", "right"),
        ("op", "left"),
        ("inputs", "left"),
        ("output", "left"),
        ("params", "left"),
        ("weights", "right"),
        ("MACs", "right"),
        ("sparsity", "right"),
    ):
        table.add_column(header, justify=justify)
    for layer in summary.layers:
        table.add_row(
            str(layer.index),
            layer.kind,
            ", ".join(_shape(s) for s in layer.input_shapes),
            _shape(layer.output_shape),
            layer.params,
            f"{layer.weight_count + layer.bias_count:,}" if layer.weight_count else "",
            f"{layer.macs:,}" if layer.macs else "",
            f"{layer.sparsity:.1%}" if layer.sparsity is not None else "",
        )
    table.add_section()
    table.add_row(
        "",
        f"total ({len(summary.layers)} ops)",
        "",
        "",
        f"{summary.constant_bytes:,} constant bytes",
        f"{summary.total_weights + summary.total_biases:,}",
        f"{summary.total_macs:,}",
        f"{summary.sparsity:.1%}" if summary.sparsity is not None else "",
    )
    return table
