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

- ``eliminate_dead_channels`` shrinks pruned networks. An output channel of a FULLY_CONNECTED /
  CONV_2D / DEPTHWISE_CONV_2D whose weights are all zero outputs one constant; where only FC / CONV_2D
  layers read its tensor, each through one weight column per channel (FC features = channels, or a
  1x1 / VALID convolution, which no padding reaches), the constant's contribution moves into their
  int32 biases (unless that overflows) and those columns become zero. A channel whose columns are zero
  in every reader is removed from the readers' weights, the FC / CONV_2D producing it and the channel-wise
  ops between (depthwise with depth multiplier 1, pools: each the only reader of the tensor before it):
  weights, biases, per-channel scales, tensors; from a producer at most half zero at least four at a
  time (its dense kernel runs channels in quads: a partial quad costs more than one to three channels
  save). Repeated until nothing changes (removing a column can empty a row upstream); the shrunk
  tensors get new names, so layer-by-layer comparison against the original graph skips them.

- ``pair_hidden_units`` reorders the units of a pruned hidden FC layer so that its readers' nonzero weights
  sit in adjacent columns: the sparse FC kernel (pqk_fully_connected_s8_csr_pairs_dsp) runs two nonzeros in
  columns j, j + 1 of a row as one pair (a run of L nonzeros gives L // 2 pairs) at about half a single's
  cost. The units of a tensor only FULLY_CONNECTED ops produce and read (not a graph output) are free to
  permute: the producer's weight rows, bias and per-channel scales, the readers' weight columns, all
  renamed; the outputs stay exact. Columns that are often nonzero in the same rows are matched into
  adjacent positions (greedily, most shared rows first), then swaps that add pairs are taken; a tensor is
  reordered only where that strictly adds pairs (dense readers: never).

RESHAPE needs no pass: code generation places its output on the same bytes as its input (a no-op
alias), see ``pqk_mcu.codegen.memory``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from typing import Callable

import numpy as np

from pqk_mcu.ir.builder import bias_quant
from pqk_mcu.ir.graph import Graph, Op, Tensor
from pqk_mcu.ir.opdef import OP_DEFS
from pqk_mcu.ir.ops import Conv2DAttrs, FullyConnectedAttrs
from pqk_mcu.ir.verify import verify_graph
from pqk_mcu.quant import (
    INT32_MAX,
    INT32_MIN,
    activation_range,
    conv_multipliers,
    fully_connected_multiplier,
    multiply_by_quantized_multiplier,
)

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
            single_channel_depthwise_to_conv, single_pixel_conv_to_fully_connected, eliminate_dead_channels,
            pair_hidden_units)


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


# -- dead channels ------------------------------------------------------------------------------------

# Ops with weight rows per output channel: a row of zeros makes that channel a constant.
WEIGHTED_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D")
# Ops that read a tensor through weight columns, one per input channel (see ``_reads_whole_channels``).
READER_OPS = ("FULLY_CONNECTED", "CONV_2D")
# Ops whose output channel k reads only input channel k (depthwise: with depth multiplier 1).
CHANNELWISE_OPS = ("DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D")
# Dense kernels run channels in quads: from a layer at most half zero (one code generation stores dense), removing
# fewer than four channels leaves a partial quad that costs more than it saves (dense person_detect's last layer
# 256 -> 255 channels: 17 k more instructions). Sparse kernels run channel by channel: every channel pays.
MIN_REMOVED_CHANNELS = 4
LIVE_SUFFIX = re.compile(r"/live\d+(_\d+)?$")


def _owned_constant(graph: Graph, tensors: dict[str, Tensor], consumers: dict[str, list[Op]], name: str) -> bool:
    """A constant only this one op reads, so rewriting it changes nothing else."""
    return (name in tensors and tensors[name].is_constant and len(consumers.get(name, [])) == 1
            and name not in graph.outputs)


def _weighted_op(graph: Graph, tensors: dict[str, Tensor], consumers: dict[str, list[Op]], op: Op) -> bool:
    """An int8 FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D whose constant weights (and int32 bias) only it
    reads."""
    if op.kind not in WEIGHTED_OPS:
        return False
    bias = op.inputs[2] if len(op.inputs) > 2 else ""
    return (
        tensors[op.inputs[0]].dtype == "int8"
        and tensors[op.outputs[0]].dtype == "int8"
        and _owned_constant(graph, tensors, consumers, op.inputs[1])
        and (not bias or (_owned_constant(graph, tensors, consumers, bias) and tensors[bias].dtype == "int32"))
    )


def _channelwise_op(graph: Graph, tensors: dict[str, Tensor], consumers: dict[str, list[Op]], op: Op) -> bool:
    """An int8 pool, or a depthwise convolution with depth multiplier 1 and weights only it reads."""
    if op.kind == "DEPTHWISE_CONV_2D":
        return op.attrs.depth_multiplier == 1 and _weighted_op(graph, tensors, consumers, op)
    return op.kind in CHANNELWISE_OPS and tensors[op.inputs[0]].dtype == "int8"


def _reads_whole_channels(tensors: dict[str, Tensor], op: Op, name: str) -> bool:
    """``op`` (FULLY_CONNECTED / CONV_2D) reads every element of channel k of ``name`` (last axis) only through
    its weights' input channel k, and never a padded position: an FC whose features are the tensor's channels,
    or a convolution whose padding cannot reach the input (1x1 filter or VALID)."""
    if op.kind not in READER_OPS or op.inputs[0] != name or name in op.inputs[1:]:
        return False
    weights = tensors[op.inputs[1]]
    if op.kind == "FULLY_CONNECTED":
        return tensors[name].shape[-1] == weights.shape[1]
    return weights.shape[1:3] == (1, 1) or op.attrs.padding == "VALID"


def _weight_rows(op: Op, weights: np.ndarray) -> np.ndarray:
    """The weights one row per output channel: [channels, everything else]."""
    rows = np.moveaxis(weights, OP_DEFS[op.kind].weight_axis, 0)
    return rows.reshape(rows.shape[0], -1)


def _constant_channel_value(tensors: dict[str, Tensor], op: Op, channel: int) -> int:
    """What channel ``channel`` of ``op`` outputs when its weights there are all zero: its bias requantized
    as the reference does (per-tensor FULLY_CONNECTED: ``fully_connected_multiplier``, else per channel)."""
    x, weights, y = tensors[op.inputs[0]], tensors[op.inputs[1]], tensors[op.outputs[0]]
    bias = int(tensors[op.inputs[2]].data[channel]) if len(op.inputs) > 2 and op.inputs[2] else 0
    (in_scale, _), (out_scale, out_zp) = x.per_tensor_quant, y.per_tensor_quant
    scales = weights.quant.scale
    if op.kind == "FULLY_CONNECTED" and not weights.quant.per_channel:
        multiplier, shift = fully_connected_multiplier(in_scale, scales[0], out_scale)
    else:
        multipliers, shifts = conv_multipliers(in_scale, [scales[channel if len(scales) > 1 else 0]], out_scale)
        multiplier, shift = int(multipliers[0]), int(shifts[0])
    low, high = activation_range(op.attrs.activation, out_scale, out_zp)
    return min(max(multiply_by_quantized_multiplier(bias, multiplier, shift) + out_zp, low), high)


def _fresh_name(candidate: str, taken: set[str]) -> str:
    """``candidate``, or with the first free ``_2``, ``_3``... appended; recorded as taken."""
    name, count = candidate, 1
    while name in taken:
        count += 1
        name = f"{candidate}_{count}"
    taken.add(name)
    return name


def _with_bias(tensors: dict[str, Tensor], op: Op, taken: set[str]) -> tuple[Op, Tensor]:
    """``op`` and its int32 bias tensor, a new zero one (quantized input scale x weight scale) if it has none."""
    if len(op.inputs) > 2 and op.inputs[2]:
        return op, tensors[op.inputs[2]]
    weights = tensors[op.inputs[1]]
    channels = weights.shape[0]
    bias = Tensor(_fresh_name(f"{op.name}/folded_bias", taken), (channels,), "int32",
                  bias_quant(tensors[op.inputs[0]].quant, weights.quant), np.zeros(channels, dtype=np.int32))
    return dataclasses.replace(op, inputs=(*op.inputs[:2], bias.name)), bias


def _channels_taken(tensor: Tensor, keep: np.ndarray, axis: int) -> Tensor:
    """``tensor`` with channels ``keep`` (in that order) along ``axis``: its data and per-axis quantization."""
    quant = tensor.quant
    if quant is not None and quant.axis == axis:
        quant = dataclasses.replace(quant, scale=tuple(quant.scale[k] for k in keep),
                                    zero_point=tuple(quant.zero_point[k] for k in keep))
    shape = list(tensor.shape)
    shape[axis] = len(keep)
    data = None if tensor.data is None else np.take(tensor.data, keep, axis=axis)
    return dataclasses.replace(tensor, shape=tuple(shape), quant=quant, data=data)


class _ChannelGraph:
    """A mutable working copy of a graph's tensors (in order) and ops for ``eliminate_dead_channels``."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.tensors = dict(graph.tensor_map)
        self.ops = list(graph.ops)
        self.taken = set(self.tensors)
        self.changed = False

    def step(self) -> bool:
        """Fold the constant channels of one producer, or else remove the unread channels of one; False once
        there is nothing left to do. Folds go first: they leave more channels unread."""
        consumers = self.graph.replace(ops=tuple(self.ops)).consumers()
        producers = [op for op in self.ops if _weighted_op(self.graph, self.tensors, consumers, op)]
        for op in producers:
            readers = self._whole_channel_readers(consumers, op.outputs[0])
            if readers and self._fold_constant_channels(op, readers):
                self.changed = True
                return True
        for op in producers:
            chain, readers = self._chain_to_readers(consumers, op)
            if readers and self._remove_unread_channels(chain, readers):
                self.changed = True
                return True
        return False

    def result(self) -> Graph:
        if not self.changed:
            return self.graph
        used = {name for op in self.ops for name in (*op.inputs, *op.outputs) if name}
        used |= set(self.graph.inputs) | set(self.graph.outputs)
        return self.graph.replace(tensors=tuple(t for t in self.tensors.values() if t.name in used),
                                  ops=tuple(self.ops))

    def _whole_channel_readers(self, consumers: dict[str, list[Op]], name: str) -> list[Op]:
        """The ops reading tensor ``name`` if there are some and all are FC / CONV_2D that read it whole, else []."""
        readers = consumers.get(name, [])
        if all(_weighted_op(self.graph, self.tensors, consumers, reader)
               and _reads_whole_channels(self.tensors, reader, name) for reader in readers):
            return readers
        return []

    def _chain_to_readers(self, consumers: dict[str, list[Op]], producer: Op) -> tuple[list[Op], list[Op]]:
        """``producer`` (an FC / CONV_2D) and the channel-wise ops after it, each the only reader of the one
        before, up to a tensor only whole-channel readers read (those readers; [] if there is no such chain).
        Removing a channel of that tensor removes it from every op of the chain."""
        chain = [producer]
        if producer.kind not in READER_OPS:
            return chain, []
        while chain[-1].outputs[0] not in self.graph.outputs:
            name = chain[-1].outputs[0]
            readers = self._whole_channel_readers(consumers, name)
            if readers:
                return chain, readers
            following = consumers.get(name, [])
            if (len(following) != 1 or following[0].inputs[0] != name
                    or not _channelwise_op(self.graph, self.tensors, consumers, following[0])):
                break
            chain.append(following[0])
        return chain, []

    def _fold_constant_channels(self, producer: Op, readers: list[Op]) -> bool:
        """Move each all-zero-weight channel's constant value into the readers' biases (where the sum stays
        within int32) and zero its columns there."""
        rows = _weight_rows(producer, self.tensors[producer.inputs[1]].data)
        empty = np.flatnonzero(~rows.any(axis=1)).tolist()
        zero_point = self.tensors[producer.outputs[0]].quant.zero_point[0]

        @functools.cache
        def centered_value(channel: int) -> int:
            return _constant_channel_value(self.tensors, producer, channel) - zero_point

        folded_any = False
        for reader in readers:
            reader_weights = self.tensors[reader.inputs[1]]
            columns = reader_weights.data.reshape(reader_weights.shape[0], -1, reader_weights.shape[-1])
            live = [c for c in empty if columns[:, :, c].any()]
            if not live:
                continue
            new_reader, bias = _with_bias(self.tensors, reader, self.taken)
            folded = bias.data.astype(np.int64) + sum(
                columns[:, :, c].astype(np.int64).sum(axis=1) * centered_value(c) for c in live
            )
            if folded.min() < INT32_MIN or folded.max() > INT32_MAX:
                continue
            cleared = np.array(reader_weights.data)
            cleared[..., live] = 0
            self.tensors[reader_weights.name] = dataclasses.replace(reader_weights, data=cleared)
            self.tensors[bias.name] = dataclasses.replace(bias, data=folded.astype(np.int32))
            self.ops[self.ops.index(reader)] = new_reader
            folded_any = True
        return folded_any

    def _remove_unread_channels(self, chain: list[Op], readers: list[Op]) -> bool:
        """Drop the channels every reader's weights ignore (all-zero columns) from the readers' weights and from
        every op of the chain (weights, bias, per-channel scales) and its output, all renamed; at least one
        channel stays, and from a dense producer at least ``MIN_REMOVED_CHANNELS`` go (or all but fewer)."""
        channels = self.tensors[chain[-1].outputs[0]].shape[-1]
        read = np.zeros(channels, dtype=bool)
        for reader in readers:
            read |= self.tensors[reader.inputs[1]].data.reshape(-1, channels).any(axis=0)
        keep = np.flatnonzero(read) if read.any() else np.array([0])
        weights = self.tensors[chain[0].inputs[1]].data
        dense = 2 * np.count_nonzero(weights) >= weights.size
        if len(keep) == channels or (dense and channels - len(keep) < MIN_REMOVED_CHANNELS <= len(keep)):
            return False
        renamed: dict[str, Tensor] = {}
        for op in chain:
            output = self.tensors[op.outputs[0]]
            renamed[output.name] = self._taken_along(output, keep, axis=len(output.shape) - 1)
            if op.kind in WEIGHTED_OPS:
                weights = self.tensors[op.inputs[1]]
                renamed[weights.name] = self._taken_along(weights, keep, axis=OP_DEFS[op.kind].weight_axis)
                if len(op.inputs) > 2 and op.inputs[2]:
                    renamed[op.inputs[2]] = self._taken_along(self.tensors[op.inputs[2]], keep, axis=0)
        for reader in readers:
            weights = self.tensors[reader.inputs[1]]
            renamed[weights.name] = self._taken_along(weights, keep, axis=len(weights.shape) - 1)
        for op in (*chain, *readers):
            self.ops[self.ops.index(op)] = dataclasses.replace(
                op,
                inputs=tuple(renamed[n].name if n in renamed else n for n in op.inputs),
                outputs=tuple(renamed[n].name if n in renamed else n for n in op.outputs),
            )
        self.tensors = {renamed[name].name if name in renamed else name: renamed.get(name, t)
                        for name, t in self.tensors.items()}
        return True

    def _taken_along(self, tensor: Tensor, keep: np.ndarray, axis: int) -> Tensor:
        """``tensor`` with only channels ``keep`` along ``axis``, renamed."""
        # "<name>/live<channels>": once per shrink, not once per round
        name = _fresh_name(f"{LIVE_SUFFIX.sub('', tensor.name)}/live{len(keep)}", self.taken)
        return dataclasses.replace(_channels_taken(tensor, keep, axis), name=name)


def eliminate_dead_channels(graph: Graph) -> Graph:
    """Fold constant channels into the next layers' biases and remove the channels no layer reads."""
    work = _ChannelGraph(graph)
    while work.step():
        pass
    return work.result()


# -- hidden unit order -----------------------------------------------------------------------------------

# Rounds of improving column swaps after the matching; most of the gain comes in the first few.
PAIRING_SWEEPS = 8
# A round costs readers' rows x units^2 small-int operations (AD toycar's 640 x 128^2: ~0.1 s); above this the
# matching alone orders the units.
MAX_SWAP_SEARCH = 1 << 25
# The matching costs units^2 memory and time; wider layers keep their order.
MAX_REORDERED_UNITS = 2048
REORDERED_SUFFIX = "/reordered"


def _run_pairs(nonzero: np.ndarray) -> np.ndarray:
    """Per row of ``nonzero`` [rows][columns] (bool): the sum of L // 2 over its runs of L adjacent Trues,
    the pairs encode_column_pairs finds in a weight row."""
    rows, columns = nonzero.shape
    padded = np.zeros((rows, columns + 2), dtype=np.int8)
    padded[:, 1:-1] = nonzero
    edges = np.diff(padded, axis=1)
    run_rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    return np.bincount(run_rows, (ends - starts) // 2, minlength=rows).astype(np.int64)


def _matched_order(nonzero: np.ndarray) -> list[int]:
    """Columns in matched pairs side by side: greedily the two unmatched columns nonzero together in the most
    rows (ties: lowest indices), then the unmatched rest in order."""
    columns = nonzero.shape[1]
    counts = nonzero.astype(np.int32)
    shared = counts.T @ counts
    first, second = np.triu_indices(columns, 1)
    matched = np.zeros(columns, dtype=bool)
    order: list[int] = []
    for k in np.lexsort((second, first, -shared[first, second])):
        i, j = int(first[k]), int(second[k])
        if shared[i, j] == 0:
            break
        if not matched[i] and not matched[j]:
            matched[i] = matched[j] = True
            order += [i, j]
    return order + np.flatnonzero(~matched).tolist()


def _run_lengths(nonzero: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row and column of ``nonzero``: the length of the run of Trues ending there and of the one starting
    there (0 at a False), with a zero column padded on either side."""
    rows, columns = nonzero.shape
    # small ints where sums of two lengths fit: the swap search's arithmetic is the pass's cost
    index = np.arange(columns + 2, dtype=np.int16 if 2 * (columns + 2) < 1 << 15 else np.int32)
    padded = np.zeros((rows, columns + 2), dtype=bool)
    padded[:, 1:-1] = nonzero

    def ending(trues: np.ndarray) -> np.ndarray:
        return index - np.maximum.accumulate(np.where(trues, 0, index), axis=1)

    return ending(padded), ending(padded[:, ::-1])[:, ::-1]


def _swap_gains(placed: np.ndarray, runs: tuple[np.ndarray, np.ndarray], p: int) -> np.ndarray:
    """The pairs gained by swapping column ``p`` of ``placed`` with each column q > p (earlier ones: 0). A
    swap moves a row's nonzero from one column to the other where the two differ: the run it leaves splits,
    the runs beside its new place join, and where its new place touches the run it left, that run's rest
    joins instead. ``runs``: ``_run_lengths(placed)``."""
    ending, starting = runs
    columns = placed.shape[1]
    q = np.arange(p + 1, columns, dtype=ending.dtype)
    gains = np.zeros(columns, dtype=np.int64)
    if q.size == 0:
        return gains
    at_p, at_q = placed[:, p:p + 1], placed[:, q]
    # padded indices: column c is c + 1
    left_p, right_p = ending[:, p + 1:p + 2] - 1, starting[:, p + 1:p + 2] - 1  # beside p in its run
    left_q, right_q = ending[:, q + 1] - 1, starting[:, q + 1] - 1
    before_p, after_p = ending[:, p:p + 1], starting[:, p + 2:p + 3]  # runs beside an empty p
    before_q, after_q = ending[:, q], starting[:, q + 2]
    # nonzero p -> empty q: p's run splits and the runs beside q join through it; where q is right after p's
    # run, the run's part after p joins the run after q instead
    run_p = left_p + right_p + 1
    out = np.where(q[None, :] == p + right_p + 1,
                   left_p // 2 + (right_p + 1 + after_q) // 2 - run_p // 2 - after_q // 2,
                   left_p // 2 + right_p // 2 - run_p // 2 + (before_q + 1 + after_q) // 2 - before_q // 2
                   - after_q // 2)
    # empty p <- nonzero q, the same mirrored: where p is right before q's run, the run before p joins the
    # run's part before q
    run_q = left_q + right_q + 1
    into = np.where(left_q == q[None, :] - p - 1,
                    (before_p + 1 + left_q) // 2 + right_q // 2 - before_p // 2 - run_q // 2,
                    left_q // 2 + right_q // 2 - run_q // 2 + (before_p + 1 + after_p) // 2 - before_p // 2
                    - after_p // 2)
    moved_out, moved_in = at_p & ~at_q, ~at_p & at_q
    gains[p + 1:] = (moved_out * out).sum(axis=0, dtype=np.int64) + (moved_in * into).sum(axis=0, dtype=np.int64)
    return gains


def _improved_by_swaps(nonzero: np.ndarray, order: list[int]) -> list[int]:
    """``order`` after rounds (at most PAIRING_SWEEPS) of swapping each position with the later one that adds
    the most pairs, where one does."""
    order = list(order)
    placed = nonzero[:, order]
    runs = _run_lengths(placed)
    sweeps = PAIRING_SWEEPS if placed.shape[0] * placed.shape[1] ** 2 <= MAX_SWAP_SEARCH else 0
    for _ in range(sweeps):
        improved = False
        for p in range(len(order)):
            gains = _swap_gains(placed, runs, p)
            q = int(np.argmax(gains))
            if gains[q] > 0:
                placed[:, [p, q]] = placed[:, [q, p]]
                runs = _run_lengths(placed)
                order[p], order[q] = order[q], order[p]
                improved = True
        if not improved:
            break
    return order


def _paired_order(nonzero: np.ndarray) -> np.ndarray | None:
    """A column order of ``nonzero`` [rows][columns] with more pairs than the given one, or None where it is
    more than half nonzero (dense kernels, whose cost no order changes, run such layers) or too wide."""
    present = _run_pairs(nonzero).sum()
    if (2 * np.count_nonzero(nonzero) > nonzero.size or nonzero.shape[1] > MAX_REORDERED_UNITS
            or present == (nonzero.sum(axis=1) // 2).sum()):  # every row's nonzeros pair up already
        return None
    order = _improved_by_swaps(nonzero, _matched_order(nonzero))
    return np.array(order) if _run_pairs(nonzero[:, order]).sum() > present else None


def pair_hidden_units(graph: Graph) -> Graph:
    """Permute the units of hidden FULLY_CONNECTED -> FULLY_CONNECTED tensors so the readers' nonzero weights
    form more adjacent column pairs."""
    tensors = dict(graph.tensor_map)
    ops = list(graph.ops)
    taken = set(tensors)
    made: set[str] = set()

    def permute(old: Tensor, order: np.ndarray, axis: int) -> None:
        """Put ``old`` with its channels along ``axis`` in ``order`` in its place, renamed unless this pass made
        it, in the ops too."""
        new_name = old.name if old.name in made else _fresh_name(old.name + REORDERED_SUFFIX, taken)
        made.add(new_name)
        tensors[old.name] = dataclasses.replace(_channels_taken(old, order, axis), name=new_name)
        for k, op in enumerate(ops):
            if old.name in (*op.inputs, *op.outputs):
                ops[k] = dataclasses.replace(op, inputs=tuple(new_name if n == old.name else n for n in op.inputs),
                                             outputs=tuple(new_name if n == old.name else n for n in op.outputs))

    for index in range(len(ops)):
        current = graph.replace(tensors=tuple(tensors.values()), ops=tuple(ops))
        tensors = dict(current.tensor_map)
        consumers = current.consumers()
        producer, name = ops[index], ops[index].outputs[0]
        readers = consumers.get(name, [])
        if (producer.kind != "FULLY_CONNECTED" or not readers or name in graph.outputs
                or not _weighted_op(current, tensors, consumers, producer)
                or tensors[name].quant is None or tensors[name].quant.per_channel
                or not all(reader.kind == "FULLY_CONNECTED" and _weighted_op(current, tensors, consumers, reader)
                           and _reads_whole_channels(tensors, reader, name) for reader in readers)):
            continue
        order = _paired_order(np.concatenate([tensors[reader.inputs[1]].data != 0 for reader in readers]))
        if order is None:
            continue
        for weights_or_bias in producer.inputs[1:]:  # FC weights [units][features]
            if weights_or_bias:
                permute(tensors[weights_or_bias], order, axis=0)
        for reader in readers:
            permute(tensors[reader.inputs[1]], order, axis=1)
        permute(tensors[name], order, axis=len(tensors[name].shape) - 1)
    if not made:
        return graph
    return graph.replace(tensors=tuple(tensors.values()), ops=tuple(ops))
