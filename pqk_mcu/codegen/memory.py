"""Static memory plan: every activation tensor gets a place, no malloc.

Graph inputs live in the caller's ``input`` buffer and graph outputs in its ``output`` buffer
(concatenated in graph order); everything else shares one arena. Tensors that must hold the same
bytes (an aliasing op's output and input, e.g. RESHAPE) form one buffer. A buffer is live from the
op that writes it to the last op that reads it; buffers are placed greedily, largest first, at the
lowest aligned offset that no buffer with an overlapping lifetime occupies. Per-op scratch areas are
buffers that live for that op only (host sanitizer builds give each its own array instead: model.c.j2).

In place: an op whose kernel can write its output over its input (``in_place`` pairs, e.g. the
DSP depthwise and pointwise kernels) gets one buffer for both when the input is an arena tensor
that no later op reads. A chain of such ops then runs in a single buffer instead of ping-pong.
A pair carries a lead: the output starts that many bytes before the input (0: at the input). A
kernel that reads its input in order and writes each output pixel only after reading what it
needs can run over its own input once its output leads far enough (``write_lead``): a 3x3 conv by
a row of pixels, a 1x1 conv that widens the channels by the growth of the tensor. A chain of pairs is
one rigid buffer in which each output that leads its input moves the tensors before it up by the lead:
the plan drops the pairs whose drift costs more than they save.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

ARENA_ALIGNMENT = 4

REGION_INPUT = "input"
REGION_OUTPUT = "output"
REGION_ARENA = "arena"


@dataclass(frozen=True)
class Placement:
    region: str  # input / output / arena
    offset: int

    @property
    def expression(self) -> str:
        """C pointer expression inside ``pqk_model_invoke``."""
        return f"{self.region} + {self.offset}"


@dataclass
class MemoryRequest:
    """What the planner needs: sizes, op order, aliases and scratch (built by the lowering)."""

    sizes: dict[str, int]  # activation tensor -> bytes
    op_inputs: list[list[str]]  # per op, the activation tensors it reads
    op_outputs: list[list[str]]  # per op, the activation tensors it writes
    graph_inputs: list[str]
    graph_outputs: list[str]
    aliases: list[tuple[str, str]] = field(default_factory=list)  # (output, input) sharing bytes
    scratch: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (op index, bytes)
    # (output, input, lead): the kernel may write its output starting lead bytes before its input
    in_place: list[tuple[str, str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class MemoryPlan:
    placements: dict[str, Placement]  # tensor or scratch name -> place
    arena_bytes: int
    aliased: frozenset[str]  # alias outputs that share their input's bytes
    in_place: frozenset[str] = frozenset()  # outputs placed over their input


def plan_memory(request: MemoryRequest) -> MemoryPlan:
    """The plan with every legal in-place pair, less the pairs whose dropping lowers the arena, the
    best drop first: a chain of pairs is one rigid buffer, and each output that leads its input
    shifts the rest of the chain by its lead, which past some point costs more than the pair saves."""
    kept = list(request.in_place)
    best = plan_every_pair(request)
    while kept:
        trial, dropped = min(((plan_every_pair(replace(request, in_place=[p for p in kept if p != pair])), pair)
                              for pair in kept), key=lambda item: item[0].arena_bytes)
        if trial.arena_bytes >= best.arena_bytes:
            break
        kept.remove(dropped)
        best = trial
    return best


def plan_every_pair(request: MemoryRequest) -> MemoryPlan:
    """The plan with every in-place pair of ``request`` taken where it is legal and saves bytes."""
    groups = _alias_groups(request)
    buffers, in_place = _in_place_buffers(request, groups)
    placements: dict[str, Placement] = {}
    arena_buffers: list[dict[str, int]] = []
    for members in buffers:
        region_offset = _edge_placement(request, tuple(members))
        if region_offset is None:
            arena_buffers.append(members)
        else:  # never merged in place: every member at offset 0
            for name in members:
                placements[name] = region_offset

    # Each buffer places its members rigidly (offsets inside it) but each member only takes its bytes
    # while it lives, so a short-lived small member does not reserve the buffer's whole span.
    buffers_to_place: list[tuple[int, int, str, list[tuple[str, int, int, int, int]]]] = []
    for members in arena_buffers:
        shapes = []
        for name, offset in members.items():
            touched = [index for index in range(len(request.op_inputs))
                       if name in request.op_inputs[index] or name in request.op_outputs[index]]
            shapes.append((name, offset, request.sizes[name], min(touched), max(touched)))
        buffers_to_place.append((_span(request, members), min(shape[3] for shape in shapes), min(members), shapes))
    for name, (index, size) in request.scratch.items():
        buffers_to_place.append((size, index, name, [(name, 0, size, index, index)]))

    placed: list[tuple[int, int, int, int]] = []  # offset, size, first, last
    arena_bytes = 0
    # Largest first; ties by first use and name keep the plan deterministic.
    for _, _, _, shapes in sorted(buffers_to_place, key=lambda item: (-item[0], item[1], item[2])):
        offset = _lowest_free_offset(shapes, placed)
        for name, inner, size, first, last in shapes:
            placed.append((offset + inner, size, first, last))
            arena_bytes = max(arena_bytes, offset + inner + size)
            placements[name] = Placement(REGION_ARENA, offset + inner)
    aliased = frozenset(out for out, source in request.aliases if _same_group(groups, out, source))
    return MemoryPlan(placements=placements, arena_bytes=arena_bytes, aliased=aliased, in_place=in_place)


def _lowest_free_offset(shapes: list[tuple[str, int, int, int, int]], placed: list[tuple[int, int, int, int]]) -> int:
    """The lowest aligned offset of a buffer whose members (name, offset inside, size, first op, last op)
    share no bytes with a placed member alive at the same time: raise it past the nearest conflict
    until there is none."""
    offset = 0
    while True:
        raises = [
            _align(other_offset + other_size - inner)
            for _, inner, size, first, last in shapes
            for other_offset, other_size, other_first, other_last in placed
            if not (last < other_first or other_last < first)
            and offset + inner < other_offset + other_size and other_offset < offset + inner + size
        ]
        if not raises:
            return offset
        offset = min(raises)


def _align(offset: int) -> int:
    return (offset + ARENA_ALIGNMENT - 1) // ARENA_ALIGNMENT * ARENA_ALIGNMENT


def _edge_offsets(names: list[str], sizes: dict[str, int]) -> dict[str, int]:
    offsets, position = {}, 0
    for name in names:
        offsets[name] = position
        position += sizes[name]
    return offsets


def _edge_placement(request: MemoryRequest, members: tuple[str, ...]) -> Placement | None:
    for region, names in ((REGION_INPUT, request.graph_inputs), (REGION_OUTPUT, request.graph_outputs)):
        offsets = _edge_offsets(names, request.sizes)
        for name in members:
            if name in offsets:
                return Placement(region, offsets[name])
    return None


def _alias_groups(request: MemoryRequest) -> list[tuple[str, ...]]:
    """Union alias pairs unless that would put one buffer on two graph edges (then it is copied)."""
    group_of = {name: (name,) for name in request.sizes}
    edges = set(request.graph_inputs) | set(request.graph_outputs)
    for out, source in request.aliases:
        merged = tuple(sorted(set(group_of[out]) | set(group_of[source])))
        if len(edges.intersection(merged)) > 1:
            continue
        for name in merged:
            group_of[name] = merged
    unique = sorted(set(group_of.values()))
    return unique


def _same_group(groups: list[tuple[str, ...]], a: str, b: str) -> bool:
    return any(a in members and b in members for members in groups)


def _span(request: MemoryRequest, members: dict[str, int]) -> int:
    return max(offset + request.sizes[name] for name, offset in members.items())


def _in_place_buffers(
    request: MemoryRequest, groups: list[tuple[str, ...]]
) -> tuple[list[dict[str, int]], frozenset[str]]:
    """Buffers (member -> offset inside the buffer): the alias groups, each in-place output merged into
    its input's buffer, lead bytes before the input, where that is legal and saves bytes.

    Legal when neither buffer touches a graph edge (the caller's input is read-only, outputs have
    their own region) and the op that writes the output is the last one to touch the input's buffer."""
    edges = set(request.graph_inputs) | set(request.graph_outputs)
    buffers = [dict.fromkeys(members, 0) for members in groups]
    owner = {name: index for index, members in enumerate(buffers) for name in members}
    merged: set[str] = set()

    def last_use(members: dict[str, int]) -> int:
        return max(
            index for index in range(len(request.op_inputs))
            if any(name in request.op_inputs[index] or name in request.op_outputs[index] for name in members)
        )

    for output, source, lead in request.in_place:
        out_index, in_index = owner[output], owner[source]
        out_buffer, in_buffer = buffers[out_index], buffers[in_index]
        if out_index == in_index or edges.intersection(out_buffer) or edges.intersection(in_buffer):
            continue
        writer = min(index for index, names in enumerate(request.op_outputs) if output in names)
        if last_use(in_buffer) != writer or any(
            name in request.op_outputs[index] for index in range(writer) for name in out_buffer
        ):
            continue
        shift = out_buffer[output] + lead - in_buffer[source]
        union = dict(out_buffer) | {name: offset + shift for name, offset in in_buffer.items()}
        low = min(union.values())
        union = {name: offset - low for name, offset in union.items()}
        if _span(request, union) >= _span(request, out_buffer) + _span(request, in_buffer):
            continue
        buffers[out_index], buffers[in_index] = union, {}
        for name in union:
            owner[name] = out_index
        merged.add(output)
    return sorted((members for members in buffers if members), key=lambda m: sorted(m)), frozenset(merged)


def write_lead(input_shape, output_shape, window, block: int, backward: bool = True) -> int:
    """Where a windowed op's output [batches][h][w][c] may start relative to its input, in bytes before it
    (negative: after it), so that running over the input loses nothing; the smaller of the two ways.

    The kernel computes ``block`` output pixels at a time and writes a block only after reading its
    inputs, forward when its output starts at or before its input and, where it can (``backward``),
    backward when after it (memmove's rule). A block's writes may then reach no input byte that a
    block after it reads.
    ``window``: filter_h/w, stride_h/w, dilation_h/w, pad_top/left."""
    batches, input_h, input_w, input_c = input_shape
    _, output_h, output_w, output_c = output_shape

    def taps_inside(count: int, stride: int, pad: int, dilation: int, taps: int, size: int):
        """First and last input position each output position reads (-1 for none)."""
        start = np.arange(count, dtype=np.int64) * stride - pad
        skipped = np.where(start >= 0, 0, (-start + dilation - 1) // dilation)
        first = start + skipped * dilation
        last_tap = np.minimum(taps - 1, (size - 1 - start) // dilation)
        last = start + last_tap * dilation
        inside = (skipped <= last_tap) & (first < size)
        return np.where(inside, first, -1), np.where(inside, last, -1)

    row_first, row_last = taps_inside(output_h, window.stride_h, window.pad_top, window.dilation_h, window.filter_h,
                                      input_h)
    col_first, col_last = taps_inside(output_w, window.stride_w, window.pad_left, window.dilation_w, window.filter_w,
                                      input_w)
    reads = (row_first[:, None] >= 0) & (col_first[None, :] >= 0)
    image = np.arange(batches, dtype=np.int64)[:, None, None] * (input_h * input_w * input_c)
    never = np.iinfo(np.int64).max // 4  # a pixel whose taps all fall in the padding reads nothing
    first_byte = (image + np.where(reads, (row_first[:, None] * input_w + col_first[None, :]) * input_c, never)).ravel()
    end_byte = (image + np.where(reads, (row_last[:, None] * input_w + col_last[None, :] + 1) * input_c, -never)).ravel()
    starts = np.arange(0, first_byte.size, block)
    ends = np.minimum(starts + block, first_byte.size)
    # forward: block b writes [start_b, end_b) x output_c; later blocks read from read_from[end_b] on
    read_from = np.append(np.minimum.accumulate(first_byte[::-1])[::-1], never)
    forward = _align(max(0, int((ends * output_c - read_from[ends]).max(initial=0))))
    if not backward:
        return forward
    # backward: later blocks are the earlier pixels, read up to read_to[start_b]
    read_to = np.concatenate(([-never], np.maximum.accumulate(end_byte)))
    backward = _align(max(ARENA_ALIGNMENT, int((read_to[starts] - starts * output_c).max(initial=0))))
    return forward if forward <= backward else -backward
