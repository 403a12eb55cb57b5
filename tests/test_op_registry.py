"""The op registry: what adding an op takes.

An op is one ``OpDef`` (arity, constant inputs, shape rule, quantization constraints, fused activation,
.tflite options and version); the verifier, shape inference, builder, importer and exporter read it, and
the reference kernel and the lowering register against it. So a new element-wise op is its definition,
its reference kernel, its lowering and its C kernel: a toy op registered here in-process goes through
build, verify, export, import, the reference and the lowering with nothing else touched, and the files
that mention SUB are counted in the source tree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import pqk_mcu
from pqk_mcu.codegen.lower import LOWERINGS, Call, TensorRef, lower_graph
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.ir.opdef import OP_DEFS, OpDef, TfliteOptions, define_op
from pqk_mcu.ir.ops import ElementwiseAttrs
from pqk_mcu.ir.shapes import broadcast_shape
from pqk_mcu.reference import KERNELS, run_reference
from pqk_mcu.resources import resource_dir

# A TFLite builtin pqk-mcu does not define, so the importer and the exporter know its code and options table.
TOY = "SQUARED_DIFFERENCE"


def _toy_reference(call) -> list[np.ndarray]:
    """Not TFLite's op: |x1 - x2| in raw int8 units, saturated (enough to see the kernel ran)."""
    difference = np.abs(call.values[0].astype(np.int32) - call.values[1].astype(np.int32))
    return [np.broadcast_to(np.minimum(difference, 127).astype(np.int8), call.output.shape).copy()]


def _toy_lowering(lowering, layer, op) -> None:
    layer.kernel = "pqk_squared_difference_s8"
    operands = (lowering._operand(layer, 0), lowering._operand(layer, 1), TensorRef(op.outputs[0]))
    layer.calls.append(Call(layer.kernel, operands))


@pytest.fixture
def toy_op():
    """The toy op's definition, reference kernel and lowering, registered for one test."""
    definition = define_op(OpDef(
        TOY, ElementwiseAttrs, broadcast_shape, inputs=(2, 2),
        tflite=TfliteOptions("SquaredDifferenceOptions", version=2),
    ))
    KERNELS.register(TOY)(_toy_reference)
    LOWERINGS.register(TOY)(_toy_lowering)
    yield definition
    for table in (OP_DEFS, KERNELS, LOWERINGS):
        del table[TOY]


def test_a_new_elementwise_op_needs_only_its_definition_reference_and_lowering(toy_op):
    b = GraphBuilder()
    x, y = b.input((1, 3, 4), 0.1, 0), b.input((1, 1, 4), 0.1, 0)
    graph = b.build([b.binary(TOY, x, y, 0.1, 0)])  # shape inference and the verifier
    assert graph.tensor(graph.outputs[0]).shape == (1, 3, 4)

    exported = export_tflite(graph)
    assert load_tflite(exported) == graph

    first = np.arange(12, dtype=np.int8).reshape(1, 3, 4) * 10
    second = np.array([[[0, 5, -100, 50]]], dtype=np.int8)
    (output,) = run_reference(graph, [first, second])["outputs"]
    assert output.tolist() == np.minimum(np.abs(first.astype(int) - second), 127).tolist()

    layers, _ = lower_graph(graph, "dense")
    assert [layer.kernel for layer in layers] == ["pqk_squared_difference_s8"]


def test_the_registries_refuse_undefined_and_duplicate_ops(toy_op):
    with pytest.raises(ValueError, match="defined twice"):
        define_op(toy_op)
    with pytest.raises(ValueError, match="two reference kernels"):
        KERNELS.register(TOY)(_toy_reference)
    with pytest.raises(ValueError, match="no op definition"):
        LOWERINGS.register("NOT_AN_OP")(_toy_lowering)


def test_sub_took_its_definition_reference_kernel_lowering_and_c_kernel_only():
    package = Path(pqk_mcu.__file__).parent
    python = {path.relative_to(package).as_posix() for path in package.rglob("*.py") if '"SUB"' in path.read_text()}
    assert python == {"ir/ops.py", "reference/elementwise.py", "codegen/lower.py"}
    runtime = resource_dir("firmware") / "runtime"
    c_files = {path.name for path in runtime.iterdir() if "pqk_sub_s8" in path.read_text()}
    assert c_files == {"pqk_sub_s8.c", "pqk_runtime.h"}


def test_every_defined_op_has_a_reference_kernel():
    assert set(KERNELS) == set(OP_DEFS)
