"""16x8 MUL (int16 inputs and output, zero points 0): the reference equals TensorFlow Lite Micro bit for bit
on random broadcast shapes, scales and fused activations, including a constant int16 operand; the generated
C (pqk_mul_s16) equals the reference on the host and under QEMU, and the op survives the .tflite round trip."""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.builder import GraphBuilder, per_tensor

from op_checks import assert_bit_exact

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
# (shape of input1, shape of input2): same shapes, a scalar, a row, a channel vector, rank 4 both ways
SHAPES = [((2, 3, 8), (2, 3, 8)), ((4, 9), (1,)), ((1, 5, 6, 4), (4,)), ((3, 1, 7), (1, 5, 1)),
          ((6,), (2, 3, 6)), ((1, 2, 3, 4), (1, 2, 1, 4))]


def _graph(seed: int):
    """One MUL per broadcast case, random scales (products above and below the output scale), every activation."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    outputs = []
    for i, (shape1, shape2) in enumerate(SHAPES):
        s1, s2 = (float(np.float32(10 ** rng.uniform(-5, -2))) for _ in range(2))
        out_scale = float(np.float32(s1 * s2 * 32768 * 10 ** rng.uniform(-1.5, 0.5)))
        x = b.input(shape1, s1, 0, dtype="int16")
        y = b.input(shape2, s2, 0, dtype="int16")
        outputs.append(b.mul(x, y, out_scale, 0, ACTIVATIONS[i % len(ACTIVATIONS)]))
    x = b.input((3, 10), 0.0002, 0, dtype="int16")
    constant = b.constant(rng.integers(-32768, 32768, (10,)), "int16", per_tensor(0.0001, 0))
    outputs.append(b.mul(x, constant, 0.00004, 0))
    outputs.append(b.mul(constant, x, 0.00004, 0, "RELU"))
    return b.build(outputs)


@pytest.mark.parametrize("seed", range(3))
def test_reference_equals_tflm(seed):
    assert_bit_exact(_graph(seed), "reference", 4, seed=seed)


def test_host(toolchain):
    assert_bit_exact(_graph(5), "host", 4, seed=5)


def test_in_qemu(toolchain):
    assert_bit_exact(_graph(6), "cortex-m4", 2, seed=6)


def test_round_trip():
    graph = _graph(7)
    assert load_tflite(export_tflite(graph)) == graph
