"""Memory planner with in-place pairs: no two tensors live at the same time share bytes."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from pqk_mcu.codegen.memory import REGION_ARENA, MemoryRequest, plan_every_pair, plan_memory, write_lead


@st.composite
def requests(draw):
    """A random op sequence: each op reads one or two earlier tensors and writes one new one;
    some ops allow in place (their output that many bytes before their input), some have scratch."""
    count = draw(st.integers(2, 12))
    sizes = {"x": draw(st.integers(1, 64))}
    names = ["x"]
    op_inputs, op_outputs, in_place, scratch = [], [], [], {}
    for index in range(count):
        reads = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
        out = f"t{index}"
        sizes[out] = draw(st.integers(1, 64))
        op_inputs.append(reads)
        op_outputs.append([out])
        if draw(st.booleans()):
            in_place.append((out, reads[0], draw(st.integers(-16, 16))))
        if draw(st.booleans()):
            scratch[f"s{index}"] = (index, draw(st.integers(1, 32)))
        names.append(out)
    return MemoryRequest(sizes=sizes, op_inputs=op_inputs, op_outputs=op_outputs, graph_inputs=["x"],
                         graph_outputs=[names[-1]], in_place=in_place, scratch=scratch)


def _lifetime(request: MemoryRequest, name: str) -> tuple[int, int]:
    if name in request.scratch:
        index = request.scratch[name][0]
        return index, index
    touched = [i for i in range(len(request.op_inputs)) if name in request.op_inputs[i] or name in request.op_outputs[i]]
    return min(touched), max(touched)


@given(requests())
def test_live_tensors_never_overlap(request):
    plan = plan_memory(request)
    sizes = dict(request.sizes) | {name: size for name, (_, size) in request.scratch.items()}
    arena = [name for name, place in plan.placements.items() if place.region == REGION_ARENA]
    pairs = {(output, source) for output, source, _ in request.in_place}
    for i, a in enumerate(arena):
        first_a, last_a = _lifetime(request, a)
        start_a = plan.placements[a].offset
        assert start_a + sizes[a] <= plan.arena_bytes
        for b in arena[i + 1:]:
            first_b, last_b = _lifetime(request, b)
            start_b = plan.placements[b].offset
            overlap_bytes = start_a < start_b + sizes[b] and start_b < start_a + sizes[a]
            if not overlap_bytes:
                continue
            # Sharing bytes is legal only for an in-place hand-over: b written by the op that reads a last.
            handover = (
                (b, a) in pairs and b in plan.in_place and last_a == first_b
                or (a, b) in pairs and a in plan.in_place and last_b == first_a
            )
            chained = last_a < first_b or last_b < first_a
            assert handover or chained, (a, b, plan)


def test_in_place_chain_uses_one_buffer():
    sizes = {"x": 10, "a": 100, "b": 100, "c": 100, "y": 4}
    request = MemoryRequest(
        sizes=sizes, op_inputs=[["x"], ["a"], ["b"], ["c"]], op_outputs=[["a"], ["b"], ["c"], ["y"]],
        graph_inputs=["x"], graph_outputs=["y"], in_place=[("b", "a", 0), ("c", "b", 0)], scratch={"s1": (1, 8)},
    )
    plan = plan_memory(request)
    assert plan.placements["a"].offset == plan.placements["b"].offset == plan.placements["c"].offset
    assert plan.arena_bytes == 108
    assert plan.in_place == frozenset({"b", "c"})


def test_in_place_refused_when_the_input_is_read_later():
    sizes = {"x": 10, "a": 100, "b": 100, "y": 100}
    request = MemoryRequest(
        sizes=sizes, op_inputs=[["x"], ["a"], ["a", "b"]], op_outputs=[["a"], ["b"], ["y"]],
        graph_inputs=["x"], graph_outputs=["y"], in_place=[("b", "a", 0)],
    )
    plan = plan_memory(request)
    assert plan.placements["a"].offset != plan.placements["b"].offset
    assert plan.in_place == frozenset()


def test_in_place_refused_over_the_graph_input():
    sizes = {"x": 100, "a": 100, "y": 4}
    request = MemoryRequest(
        sizes=sizes, op_inputs=[["x"], ["a"]], op_outputs=[["a"], ["y"]], graph_inputs=["x"], graph_outputs=["y"],
        in_place=[("a", "x", 0)],
    )
    plan = plan_memory(request)
    assert plan.placements["a"].region == REGION_ARENA and plan.in_place == frozenset()


def test_write_lead_of_a_widening_pointwise_conv_runs_backward():
    window = SimpleNamespace(filter_h=1, filter_w=1, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_top=0,
                             pad_left=0)
    # the output starts one alignment step after its input; a narrowing one runs forward, in place
    assert write_lead((1, 5, 5, 8), (1, 5, 5, 16), window, block=4) == -4
    assert write_lead((1, 5, 5, 16), (1, 5, 5, 8), window, block=4) == 0


def test_write_lead_of_a_same_padded_3x3_conv_is_about_a_row():
    window = SimpleNamespace(filter_h=3, filter_w=3, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_top=1,
                             pad_left=1)
    lead = write_lead((1, 8, 10, 4), (1, 8, 10, 4), window, block=4)
    # a block's writes must not reach what the next block reads: from one row up and one pixel left
    assert abs(lead) == (10 + 1) * 4


def test_a_lead_places_the_output_before_or_after_its_input():
    sizes = {"x": 10, "a": 100, "b": 200, "y": 4}
    for lead in (-4, 8):
        request = MemoryRequest(sizes=sizes, op_inputs=[["x"], ["a"], ["b"]], op_outputs=[["a"], ["b"], ["y"]],
                                graph_inputs=["x"], graph_outputs=["y"], in_place=[("b", "a", lead)])
        plan = plan_memory(request)
        assert plan.placements["a"].offset - plan.placements["b"].offset == lead
        assert plan.arena_bytes == 200 + max(0, lead - 100) + max(0, -lead)


def test_a_chain_that_drifts_too_far_drops_a_pair():
    # each output 60 bytes before its input: as one chain the four tensors span 280 bytes, with the middle
    # pair dropped two chains of 160 that take turns in 200
    sizes = {"x": 10, "a": 100, "b": 100, "c": 100, "d": 100, "y": 4}
    request = MemoryRequest(sizes=sizes, op_inputs=[["x"], ["a"], ["b"], ["c"], ["d"]],
                            op_outputs=[["a"], ["b"], ["c"], ["d"], ["y"]], graph_inputs=["x"], graph_outputs=["y"],
                            in_place=[("b", "a", 60), ("c", "b", 60), ("d", "c", 60)])
    assert plan_every_pair(request).arena_bytes == 280
    plan = plan_memory(request)
    assert plan.arena_bytes == 200 and plan.in_place == frozenset({"b", "d"})
