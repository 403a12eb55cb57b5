"""SPLIT, SPLIT_V and UNPACK (int8 and int16), ops with several outputs: the reference equals TensorFlow Lite
Micro bit for bit, the generated C (one pqk_strided_copy per output, each output its own buffer) equals the
reference on the host and under QEMU, and the ops survive the .tflite round trip. The outputs feed
different consumers (another op, a graph output, an op that also reads the input) and stay live for
different spans, so the memory plan must keep each one apart."""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.codegen.generate import core_graph, memory_request
from pqk_mcu.codegen.lower import lower_graph
from pqk_mcu.codegen.memory import plan_memory
from pqk_mcu.errors import PqkError
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.ir.graph import Tensor
from pqk_mcu.ir.ops import SplitAttrs, UnpackAttrs
from pqk_mcu.ir.verify import verify_graph

from op_checks import assert_bit_exact


def _graph(dtype: str):
    """SPLIT along a negative and an inner axis, SPLIT_V with a -1 size, UNPACK along the first and a middle
    axis; their outputs feed ADDs, a MUL, another SPLIT and the graph outputs."""
    b = GraphBuilder()
    x = b.input((2, 6, 4, 3), 0.02, 0, dtype=dtype)
    first, second, third = b.parts("SPLIT", (b.constant(np.array(-3), "int32"), x), SplitAttrs(3))
    left, middle, right = b.parts("SPLIT_V", (x, b.constant(np.array([1, -1, 1]), "int32"),
                                              b.constant(np.array(2), "int32")), SplitAttrs(3))
    rows = b.parts("UNPACK", (x,), UnpackAttrs(2, 0))
    columns = b.parts("UNPACK", (middle,), UnpackAttrs(2, 2))
    halves = b.parts("SPLIT", (b.constant(np.array(1), "int32"), b.add(first, third, 0.03, 0)), SplitAttrs(2))
    return b.build([
        second, left, right, *halves, b.mul(rows[0], rows[1], 0.001, 0), b.add(columns[1], columns[0], 0.04, 0),
    ])


def _small(dtype: str):
    b = GraphBuilder()
    x = b.input((4, 5), 0.02, 0, dtype=dtype)
    parts = b.parts("SPLIT", (b.constant(np.array(0), "int32"), x), SplitAttrs(2))
    return b.build(parts)


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_reference_equals_tflm(dtype):
    assert_bit_exact(_graph(dtype), "reference", 4, seed=1)
    assert_bit_exact(_small(dtype), "reference", 2, seed=2)


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_host(toolchain, dtype):
    assert_bit_exact(_graph(dtype), "host", 4, seed=3)


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_in_qemu(toolchain, dtype):
    assert_bit_exact(_graph(dtype), "cortex-m4", 2, seed=4)


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_round_trip(dtype):
    graph = _graph(dtype)
    assert load_tflite(export_tflite(graph)) == graph


def test_each_output_has_its_own_buffer():
    """Outputs read at different times never share bytes while both live (the planner sees every output)."""
    core = core_graph(_graph("int8"))
    layers, _ = lower_graph(core, "dense")
    plan = plan_memory(memory_request(core, layers))
    outputs = [name for op in core.ops if op.kind in ("SPLIT", "SPLIT_V", "UNPACK") for name in op.outputs]
    spans = {}
    for name in outputs:
        place = plan.placements[name]
        spans[name] = (place.region, place.offset, place.offset + core.tensor(name).nbytes)
    for a in outputs:
        for b in outputs:
            if a < b and spans[a][0] == spans[b][0] == "arena" and _live_together(core, a, b):
                assert spans[a][2] <= spans[b][1] or spans[b][2] <= spans[a][1], (a, b)


def _live_together(graph, a: str, b: str) -> bool:
    def span(name: str) -> tuple[int, int]:
        uses = [i for i, op in enumerate(graph.ops) if name in op.inputs or name in op.outputs]
        return min(uses), max(uses)
    (a0, a1), (b0, b1) = span(a), span(b)
    return a0 <= b1 and b0 <= a1


def test_verifier_checks_outputs():
    graph = _small("int8")
    op = graph.ops[0]
    with pytest.raises(PqkError, match="has 1 outputs, the op produces 2"):
        verify_graph(graph.replace(ops=(op.__class__(op.kind, op.name, op.inputs, op.outputs[:1], op.attrs),),
                                   outputs=op.outputs[:1]))
    second = graph.tensor(op.outputs[1])
    requantized = Tensor(second.name, second.shape, "int8", graph.tensor(op.outputs[0]).quant.__class__((0.5,), (3,)))
    with pytest.raises(PqkError, match="must keep input 'input_0''s type and quantization"):
        verify_graph(graph.replace(tensors=tuple(requantized if t.name == second.name else t for t in graph.tensors)))
