"""Graph -> Graph passes run before code generation, listed in one pipeline.

Every pass is a pure function of a ``Graph``; ``run_pipeline`` applies a pipeline (``standard_pipeline``) in
order and verifies the graph after each pass, so a pass that breaks an invariant is named at once.

- ``split_float_edges`` removes a float32 -> int8 QUANTIZE that reads a graph input and an int8 (or int16) ->
  float32 DEQUANTIZE that writes a graph output. The generated C core is int8 only; the host side
  converts with the reference's own QUANTIZE / DEQUANTIZE (``edge_graph`` rebuilds them). The split
  op names are recorded in the metadata under ``SPLIT_INPUTS_KEY`` / ``SPLIT_OUTPUTS_KEY``.
- ``fuse_activations`` folds a standalone RELU / RELU6 into the op that produces its input when the
  fused clamp gives the same int8 result for every possible value. What the standalone op gives is
  asked of a ``UnaryTable`` passed in as data (the reference's ``unary_table``): ir sits below the
  reference and never imports it.
- ``single_channel_depthwise_to_conv`` turns a DEPTHWISE_CONV_2D of one input channel (depth
  multiplier M: micro_speech's and MobileNet's first layers) into the CONV_2D with M output channels
  it equals: the same sums, bias and per-channel requantization, so the fast convolution kernels run
  it instead of a depthwise kernel that has one channel to vectorize over.

- ``single_pixel_conv_to_fully_connected`` turns a CONV_2D with a 1x1 filter on a 1x1 input (the
  classifier of person_detect: one output pixel per batch, no padding reaches it) into the
  FULLY_CONNECTED it equals (filter OHWI -> [O][C], keep_num_dims so the output keeps its shape),
  which the FC kernels run without a convolution's per-pixel setup.

RESHAPE needs no pass: code generation places its output on the same bytes as its input (a no-op
alias), see ``pqk_mcu.codegen.memory``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Callable

import numpy as np

from pqk_mcu.ir.graph import Graph, Op, Tensor
from pqk_mcu.ir.opdef import OP_DEFS
from pqk_mcu.ir.ops import Conv2DAttrs, FullyConnectedAttrs
from pqk_mcu.ir.verify import verify_graph
from pqk_mcu.quant import activation_range

Pass = Callable[[Graph], Graph]
# (op, its input, its output) -> the int8 output for every input -128..127.
UnaryTable = Callable[[Op, Tensor, Tensor], np.ndarray]

SPLIT_INPUTS_KEY = "pqk.split_input_quantize"
SPLIT_OUTPUTS_KEY = "pqk.split_output_dequantize"

STANDALONE_ACTIVATIONS = ("RELU", "RELU6")


def split_float_edges(graph: Graph) -> Graph:
    """Drop float32 QUANTIZE ops on graph inputs and DEQUANTIZE ops on graph outputs."""
    tensors = graph.tensor_map
    consumers = graph.consumers()
    inputs, outputs = list(graph.inputs), list(graph.outputs)
    removed: list[Op] = []
    split_in: list[str] = []
    split_out: list[str] = []
    for op in graph.ops:
        source, target = op.inputs[0], op.outputs[0]
        if (
            op.kind == "QUANTIZE"
            and source in inputs
            and tensors[source].dtype == "float32"
            and len(consumers.get(source, [])) == 1
            and source not in outputs
        ):
            inputs[inputs.index(source)] = target
            removed.append(op)
            split_in.append(op.name)
        elif (
            op.kind == "DEQUANTIZE"
            and target in outputs
            and not consumers.get(target)
            and tensors[source].dtype in ("int8", "int16")
            and source not in outputs
        ):
            outputs[outputs.index(target)] = source
            removed.append(op)
            split_out.append(op.name)
    if not removed:
        return graph
    ops = tuple(op for op in graph.ops if op not in removed)
    used = set(inputs) | set(outputs) | {name for op in ops for name in (*op.inputs, *op.outputs) if name}
    metadata = graph.metadata + tuple(
        (key, json.dumps(names)) for key, names in ((SPLIT_INPUTS_KEY, split_in), (SPLIT_OUTPUTS_KEY, split_out)) if names
    )
    return graph.replace(
        tensors=tuple(t for t in graph.tensors if t.name in used),
        ops=ops,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        metadata=metadata,
    )


def fuse_activations(graph: Graph, unary_table: UnaryTable) -> Graph:
    """Fold RELU / RELU6 into a producer with no fused activation when that is exact."""
    tensors = graph.tensor_map
    producers = graph.producers()
    consumers = graph.consumers()
    ops = list(graph.ops)
    for op in graph.ops:
        if op.kind not in STANDALONE_ACTIVATIONS:
            continue
        source, target = op.inputs[0], op.outputs[0]
        producer = producers.get(source)
        if (
            producer is None
            or not OP_DEFS[producer.kind].fuses_activation
            or producer.attrs.activation != "NONE"
            or len(consumers.get(source, [])) != 1
            or source in graph.outputs
            or tensors[source].quant != tensors[target].quant
        ):
            continue
        quant = tensors[target].quant
        low, high = activation_range(op.kind, quant.scale[0], quant.zero_point[0])
        every_value = np.arange(-128, 128)
        if not np.array_equal(unary_table(op, tensors[source], tensors[target]), np.clip(every_value, low, high)):
            continue
        fused = dataclasses.replace(
            producer,
            outputs=(target,),
            attrs=dataclasses.replace(producer.attrs, activation=op.kind),
        )
        ops[ops.index(producer)] = fused
        ops.remove(op)
    if len(ops) == len(graph.ops):
        return graph
    used = set(graph.inputs) | set(graph.outputs) | {name for op in ops for name in (*op.inputs, *op.outputs) if name}
    return graph.replace(tensors=tuple(t for t in graph.tensors if t.name in used), ops=tuple(ops))


def single_channel_depthwise_to_conv(graph: Graph) -> Graph:
    """DEPTHWISE_CONV_2D with one input channel -> CONV_2D (filter 1HWM -> MHW1, quantized along axis 0)."""
    tensors = graph.tensor_map
    consumers = graph.consumers()
    ops = list(graph.ops)
    replaced: dict[str, Tensor] = {}
    for index, op in enumerate(graph.ops):
        if op.kind != "DEPTHWISE_CONV_2D" or tensors[op.inputs[0]].shape[-1] != 1:
            continue
        weights = tensors[op.inputs[1]]
        if len(consumers.get(weights.name, [])) != 1:
            continue
        quant = weights.quant
        if quant is not None and quant.per_channel:
            quant = dataclasses.replace(quant, axis=0)
        replaced[weights.name] = dataclasses.replace(
            weights, shape=(weights.shape[3], weights.shape[1], weights.shape[2], 1), quant=quant,
            data=np.ascontiguousarray(weights.data.transpose(3, 1, 2, 0)),
        )
        attrs = op.attrs
        ops[index] = dataclasses.replace(op, kind="CONV_2D", attrs=Conv2DAttrs(
            stride_h=attrs.stride_h, stride_w=attrs.stride_w, padding=attrs.padding,
            dilation_h=attrs.dilation_h, dilation_w=attrs.dilation_w, activation=attrs.activation,
        ))
    if not replaced:
        return graph
    return graph.replace(tensors=tuple(replaced.get(t.name, t) for t in graph.tensors), ops=tuple(ops))


def single_pixel_conv_to_fully_connected(graph: Graph) -> Graph:
    """CONV_2D with a 1x1 filter on a 1x1 input -> FULLY_CONNECTED (filter OHWI -> [O][C], keep_num_dims)."""
    tensors = graph.tensor_map
    consumers = graph.consumers()
    ops = list(graph.ops)
    replaced: dict[str, Tensor] = {}
    for index, op in enumerate(graph.ops):
        if op.kind != "CONV_2D" or tensors[op.inputs[0]].shape[1:3] != (1, 1):
            continue
        weights = tensors[op.inputs[1]]
        if weights.shape[1:3] != (1, 1) or len(consumers.get(weights.name, [])) != 1:
            continue
        replaced[weights.name] = dataclasses.replace(
            weights, shape=(weights.shape[0], weights.shape[3]), data=weights.data.reshape(weights.shape[0], -1),
        )
        ops[index] = dataclasses.replace(op, kind="FULLY_CONNECTED", attrs=FullyConnectedAttrs(
            activation=op.attrs.activation, keep_num_dims=True,
        ))
    if not replaced:
        return graph
    return graph.replace(tensors=tuple(replaced.get(t.name, t) for t in graph.tensors), ops=tuple(ops))


def standard_pipeline(unary_table: UnaryTable) -> tuple[Pass, ...]:
    """The passes code generation runs, in order."""
    return (split_float_edges, functools.partial(fuse_activations, unary_table=unary_table),
            single_channel_depthwise_to_conv, single_pixel_conv_to_fully_connected)


def run_pipeline(graph: Graph, pipeline: tuple[Pass, ...]) -> Graph:
    """Apply every pass in order, verifying the graph before and after each one."""
    verify_graph(graph)
    for graph_pass in pipeline:
        graph = graph_pass(graph)
        verify_graph(graph)
    return graph


def split_edge_ops(original: Graph, lowered: Graph) -> tuple[tuple[Op, ...], tuple[Op, ...]]:
    """The QUANTIZE ops on inputs and DEQUANTIZE ops on outputs that ``split_float_edges`` removed."""
    by_name = {op.name: op for op in original.ops}
    meta = lowered.metadata_map
    return tuple(
        tuple(by_name[name] for name in json.loads(meta.get(key, "[]"))) for key in (SPLIT_INPUTS_KEY, SPLIT_OUTPUTS_KEY)
    )


def edge_graph(original: Graph, op: Op) -> Graph:
    """A one-op graph running ``op`` of ``original`` (for the reference to convert at the edges)."""
    names = [name for name in (*op.inputs, *op.outputs) if name]
    return Graph(
        tensors=tuple(original.tensor(name) for name in names),
        ops=(op,),
        inputs=tuple(name for name in op.inputs if name and not original.tensor(name).is_constant),
        outputs=op.outputs,
    )
