"""Hand-checked semantics of the reference kernels (the corner cases TFLite Micro defines)."""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.errors import PqkError
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.ir.ops import SUPPORTED_OPS
from pqk_mcu.reference import KERNELS, run_reference


def run(builder: GraphBuilder, output: str, *inputs) -> np.ndarray:
    return run_reference(builder.build([output]), [np.asarray(x, dtype=np.int8) for x in inputs])["outputs"][0]


def test_every_supported_op_has_a_kernel():
    assert set(KERNELS) == set(SUPPORTED_OPS)


def test_average_pool_rounds_half_away_from_zero_over_in_bounds_taps():
    b = GraphBuilder()
    x = b.input((1, 1, 4, 1), 1.0, 0)
    y = b.average_pool2d(x, (1, 2), (1, 2), "VALID")
    # (1 + 2) / 2 = 1.5 -> 2 and (-1 - 2) / 2 = -1.5 -> -2.
    assert run(b, y, [[[[1], [2], [-1], [-2]]]]).ravel().tolist() == [2, -2]
    b = GraphBuilder()
    x = b.input((1, 1, 2, 1), 1.0, 0)
    y = b.average_pool2d(x, (1, 3), (1, 1), "SAME")
    # Window at x=0 covers (pad, 10, 20): padding is not counted, the mean is 15.
    assert run(b, y, [[[[10], [20]]]]).ravel().tolist() == [15, 15]


def test_max_pool_ignores_padding():
    b = GraphBuilder()
    x = b.input((1, 2, 2, 1), 0.5, 10)
    y = b.max_pool2d(x, 3, 1, "SAME")
    assert run(b, y, np.full((1, 2, 2, 1), -128)).ravel().tolist() == [-128] * 4


def test_pad_fills_with_zero_point():
    b = GraphBuilder()
    x = b.input((1, 1, 1, 1), 0.5, -7)
    y = b.pad(x, [[0, 0], [1, 0], [0, 1], [0, 0]])
    assert run(b, y, [[[[3]]]]).ravel().tolist() == [-7, -7, 3, -7]


def test_relu6_clamps_in_the_input_quantization():
    b = GraphBuilder()
    x = b.input((4,), 0.1, 5)
    y = b.relu6(x)
    assert run(b, y, [-100, 4, 50, 100]).tolist() == [5, 5, 50, 65]


def test_relu_rescales_to_the_output_quantization():
    b = GraphBuilder()
    x = b.input((3,), 0.1, 0)
    y = b.relu(x, 0.2, -10)
    assert run(b, y, [-50, 10, 100]).tolist() == [-10, -5, 40]


def test_softmax_of_a_constant_row_is_uniform():
    b = GraphBuilder()
    x = b.input((1, 4), 0.25, 0)
    assert run(b, b.softmax(x), [[9, 9, 9, 9]]).tolist() == [[-64, -64, -64, -64]]


def test_logistic_and_tanh_at_zero():
    b = GraphBuilder()
    x = b.input((1,), 0.05, 17)
    assert run(b, b.logistic(x), [17]).tolist() == [0]  # 0.5 at scale 1/256, zero point -128
    b = GraphBuilder()
    x = b.input((1,), 0.05, 17)
    assert run(b, b.tanh(x), [17]).tolist() == [0]


def test_conv_identity_with_bias_and_relu():
    b = GraphBuilder()
    x = b.input((1, 2, 2, 1), 1.0, 3)
    y = b.conv2d(x, np.ones((1, 1, 1, 1), np.int8), 1.0, np.array([2], np.int32), 1.0, 0, activation="RELU")
    assert run(b, y, [[[[0], [3]], [[10], [-128]]]]).ravel().tolist() == [0, 2, 9, 0]


def test_quantize_dequantize_round_trip():
    b = GraphBuilder()
    x = b.float_input((4,))
    q = b.quantize(x, 0.5, 1)
    y = b.dequantize(q)
    values = np.array([0.26, -0.25, 1.0, 1000.0], dtype=np.float32)
    result = run_reference(b.build([y]), [values])["outputs"][0]
    assert result.dtype == np.float32
    assert result.tolist() == [0.5, -0.5, 1.0, 63.0]


@pytest.mark.parametrize(
    "inputs, message",
    [
        ([], "takes 1 input"),
        ([np.zeros(5, np.int8)], "needs shape"),
        ([np.full(4, 300)], "outside the int8 range"),
        ([np.zeros(4, np.float32)], "must be int8"),
    ],
)
def test_run_reference_rejects_bad_inputs(inputs, message):
    b = GraphBuilder()
    x = b.input((4,), 1.0, 0)
    graph = b.build([b.relu(x)])
    with pytest.raises(PqkError, match=message):
        run_reference(graph, inputs)
