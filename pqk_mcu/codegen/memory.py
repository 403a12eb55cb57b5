"""Static memory plan: every activation tensor gets a place, no malloc.

Graph inputs live in the caller's ``input`` buffer and graph outputs in its ``output`` buffer
(concatenated in graph order); everything else shares one arena. Tensors that must hold the same
bytes (an aliasing op's output and input, e.g. RESHAPE) form one buffer. A buffer is live from the
op that writes it to the last op that reads it; buffers are placed greedily, largest first, at the
lowest aligned offset that no buffer with an overlapping lifetime occupies. Per-op scratch areas are
buffers that live for that op only.

In place: an op whose kernel can write its output over its input (``in_place`` pairs, e.g. the
DSP depthwise and pointwise kernels) gets one buffer for both when the input is an arena tensor
that no later op reads. A chain of such ops then runs in a single buffer instead of ping-pong.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    in_place: list[tuple[str, str]] = field(default_factory=list)  # (output, input) a kernel may overwrite


@dataclass(frozen=True)
class MemoryPlan:
    placements: dict[str, Placement]  # tensor or scratch name -> place
    arena_bytes: int
    aliased: frozenset[str]  # alias outputs that share their input's bytes
    in_place: frozenset[str] = frozenset()  # outputs placed over their input


def plan_memory(request: MemoryRequest) -> MemoryPlan:
    groups = _alias_groups(request)
    groups, in_place = _in_place_groups(request, groups)
    placements: dict[str, Placement] = {}
    arena_groups: list[tuple[str, ...]] = []
    for members in groups:
        region_offset = _edge_placement(request, members)
        if region_offset is None:
            arena_groups.append(members)
        else:
            for name in members:
                placements[name] = region_offset

    lifetimes: list[tuple[tuple[str, ...], int, int, int]] = []  # members, size, first op, last op
    for members in arena_groups:
        touched = [
            index
            for index in range(len(request.op_inputs))
            if any(name in request.op_inputs[index] or name in request.op_outputs[index] for name in members)
        ]
        size = max(request.sizes[name] for name in members)
        lifetimes.append((members, size, min(touched), max(touched)))
    for name, (index, size) in request.scratch.items():
        lifetimes.append(((name,), size, index, index))

    placed: list[tuple[int, int, int, int]] = []  # offset, size, first, last
    arena_bytes = 0
    # Largest first; ties by first use and name keep the plan deterministic.
    for members, size, first, last in sorted(lifetimes, key=lambda item: (-item[1], item[2], item[0])):
        offset = 0
        for other_offset, other_size, other_first, other_last in sorted(placed):
            overlaps_in_time = not (last < other_first or other_last < first)
            if overlaps_in_time and offset < other_offset + other_size and other_offset < offset + size:
                offset = _align(other_offset + other_size)
        placed.append((offset, size, first, last))
        arena_bytes = max(arena_bytes, offset + size)
        for name in members:
            placements[name] = Placement(REGION_ARENA, offset)
    aliased = frozenset(out for out, source in request.aliases if _same_group(groups, out, source))
    return MemoryPlan(placements=placements, arena_bytes=arena_bytes, aliased=aliased, in_place=in_place)


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


def _in_place_groups(
    request: MemoryRequest, groups: list[tuple[str, ...]]
) -> tuple[list[tuple[str, ...]], frozenset[str]]:
    """Merge each in-place output into its input's buffer where that is legal.

    Legal when neither buffer touches a graph edge (the caller's input is read-only, outputs have
    their own region), the output is no larger than the input's buffer, and the op that writes the
    output is the last one to touch the input's buffer."""
    edges = set(request.graph_inputs) | set(request.graph_outputs)
    group_of = {name: members for members in groups for name in members}
    merged: set[str] = set()

    def last_use(members: tuple[str, ...]) -> int:
        return max(
            index for index in range(len(request.op_inputs))
            if any(name in request.op_inputs[index] or name in request.op_outputs[index] for name in members)
        )

    for output, source in request.in_place:
        out_group, in_group = group_of[output], group_of[source]
        if out_group == in_group or edges.intersection(out_group + in_group):
            continue
        writer = min(index for index, names in enumerate(request.op_outputs) if output in names)
        if last_use(in_group) != writer or any(
            name in request.op_outputs[index] for index in range(writer) for name in out_group
        ):
            continue
        if max(request.sizes[n] for n in out_group) > max(request.sizes[n] for n in in_group):
            continue
        union = tuple(sorted(set(out_group) | set(in_group)))
        for name in union:
            group_of[name] = union
        merged.add(output)
    return sorted(set(group_of.values())), frozenset(merged)
