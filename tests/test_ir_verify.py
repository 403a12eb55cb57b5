"""IR verifier, shape inference, graph builder and the inspect summary."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pqk_mcu.errors import PqkError
from pqk_mcu.ir import Graph, GraphBuilder, Op, QuantParams, Tensor, verify_graph
from pqk_mcu.ir.ops import Conv2DAttrs, MeanAttrs, Pool2DAttrs
from pqk_mcu.ir.shapes import conv_output_size, infer_output_shapes, padding_before
from pqk_mcu.ir.summary import render_table, summarize

RNG = np.random.default_rng(0)


def _weights(shape) -> np.ndarray:
    return RNG.integers(-127, 128, shape).astype(np.int8)


def _small_graph() -> Graph:
    """input -> CONV_2D (per-channel) -> MAX_POOL_2D -> RESHAPE -> FULLY_CONNECTED -> SOFTMAX."""
    b = GraphBuilder()
    x = b.input((1, 6, 6, 2), scale=0.05, zero_point=-10)
    y = b.conv2d(x, _weights((3, 3, 3, 2)), [0.01, 0.02, 0.03], np.array([5, -5, 0]), 0.1, -128,
                 stride=1, padding="SAME", activation="RELU")
    y = b.max_pool2d(y, 2, 2)
    y = b.reshape(y, [1, -1])
    y = b.fully_connected(y, _weights((4, 27)), 0.02, None, 0.2, 3)
    return b.build([b.softmax(y)])


def _replace_tensor(graph: Graph, name: str, **changes) -> Graph:
    tensors = tuple(dataclasses.replace(t, **changes) if t.name == name else t for t in graph.tensors)
    return graph.replace(tensors=tensors)


def _replace_op(graph: Graph, index: int, **changes) -> Graph:
    ops = list(graph.ops)
    ops[index] = dataclasses.replace(ops[index], **changes)
    return graph.replace(ops=tuple(ops))


def _expect(graph: Graph, *fragments: str) -> None:
    with pytest.raises(PqkError) as error:
        verify_graph(graph)
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_builder_graph_verifies() -> None:
    graph = _small_graph()
    verify_graph(graph)
    conv = graph.ops[0]
    bias = graph.tensor(conv.inputs[2])
    assert bias.quant.axis == 0
    assert bias.quant.scale[1] == float(np.float32(np.float32(0.05) * np.float32(0.02)))
    assert graph.tensor(graph.outputs[0]).quant == QuantParams((1 / 256,), (-128,))
    assert graph.ops[3].inputs[2] == ""  # FULLY_CONNECTED bias stays optional


def test_builder_adds_zero_bias_to_convolutions() -> None:
    b = GraphBuilder()
    x = b.input((1, 4, 4, 2), 0.1, 0)
    y = b.depthwise_conv2d(x, _weights((1, 3, 3, 4)), 0.01, None, 0.1, 0)
    graph = b.build([y])
    bias = graph.tensor(graph.ops[0].inputs[2])
    assert bias.dtype == "int32" and bias.shape == (4,) and not bias.data.any()
    assert graph.ops[0].attrs.depth_multiplier == 2


@pytest.mark.parametrize(
    "in_size, filter_size, stride, dilation, padding, out, pad",
    [
        (10, 3, 1, 1, "SAME", 10, (1, 0)),
        (10, 3, 2, 1, "SAME", 5, (0, 1)),
        (10, 4, 2, 1, "SAME", 5, (1, 0)),
        (10, 3, 1, 2, "SAME", 10, (2, 0)),
        (10, 3, 2, 1, "VALID", 4, (0, 0)),
        (7, 3, 1, 3, "VALID", 1, (0, 0)),
        (1, 3, 1, 1, "SAME", 1, (1, 0)),
    ],
)
def test_conv_arithmetic(in_size, filter_size, stride, dilation, padding, out, pad) -> None:
    assert conv_output_size(in_size, filter_size, stride, dilation, padding) == out
    assert padding_before(in_size, filter_size, stride, dilation, out) == pad


def test_shape_rules() -> None:
    b = GraphBuilder()
    x = b.input((1, 5, 7, 3), 0.1, 0)
    assert b.shape(b.conv2d(x, _weights((4, 3, 3, 3)), 0.01, None, 0.1, 0, stride=2, padding="VALID")) == (1, 2, 3, 4)
    assert b.shape(b.depthwise_conv2d(x, _weights((1, 3, 3, 6)), 0.01, None, 0.1, 0, dilation=2)) == (1, 5, 7, 6)
    assert b.shape(b.fully_connected(x, _weights((2, 3)), 0.01, None, 0.1, 0, keep_num_dims=True)) == (1, 5, 7, 2)
    assert b.shape(b.fully_connected(x, _weights((2, 21)), 0.01, None, 0.1, 0)) == (5, 2)
    assert b.shape(b.average_pool2d(x, (2, 3), (2, 3), "SAME")) == (1, 3, 3, 3)
    assert b.shape(b.pad(x, [[0, 0], [1, 2], [0, 1], [0, 0]])) == (1, 8, 8, 3)
    assert b.shape(b.mean(x, [1, -2], False, 0.1, 0)) == (1, 3)
    assert b.shape(b.mean(x, [2], True, 0.1, 0)) == (1, 5, 1, 3)
    assert b.shape(b.concatenation([x, x], axis=-1)) == (1, 5, 7, 6)
    assert b.shape(b.add(x, b.input((1, 1, 7, 1), 0.1, 0), 0.2, 0)) == (1, 5, 7, 3)
    assert b.shape(b.reshape(x, [-1, 3])) == (35, 3)


def test_shape_errors_name_the_op() -> None:
    graph = _small_graph()
    pool = graph.ops[1]
    _expect(_replace_op(graph, 1, attrs=dataclasses.replace(pool.attrs, filter_h=9, padding="VALID")),
            "op 1 (MAX_POOL_2D)", "does not fit")
    _expect(_replace_tensor(graph, graph.ops[0].outputs[0], shape=(1, 6, 6, 4)), "op 0 (CONV_2D)", "shape")
    _expect(_replace_op(graph, 2, attrs=dataclasses.replace(graph.ops[2].attrs, new_shape=(1, 28))),
            "op 2 (RESHAPE)", "cannot reshape")


def test_structure_errors() -> None:
    graph = _small_graph()
    duplicated = graph.replace(tensors=graph.tensors + (graph.tensors[0],))
    _expect(duplicated, f"tensor '{graph.tensors[0].name}' is defined twice")
    _expect(graph.replace(ops=graph.ops[1:] + graph.ops[:1]), "op 0 (MAX_POOL_2D)", "before any op produces it")
    _expect(_replace_op(graph, 1, attrs=Conv2DAttrs()), "op 1 (MAX_POOL_2D)", "Pool2DAttrs")
    _expect(_replace_op(graph, 0, attrs=Conv2DAttrs(activation="GELU")), "op 0 (CONV_2D)", "activation")
    _expect(_replace_op(graph, 1, attrs=Pool2DAttrs(2, 2, 0, 2)), "op 1 (MAX_POOL_2D)", "stride_h")
    _expect(_replace_op(graph, 0, inputs=graph.ops[0].inputs[:2]), "op 0 (CONV_2D)", "bias")
    _expect(_replace_op(graph, 4, inputs=()), "op 4 (SOFTMAX)", "0 inputs")
    _expect(graph.replace(outputs=("nowhere",)), "graph output 'nowhere'")
    _expect(graph.replace(inputs=(graph.ops[0].inputs[1],)), "is a constant")
    _expect(_replace_op(graph, 0, kind="CONV_3D"), "op 0 (CONV_3D)", "unknown op kind")


def test_quantization_errors() -> None:
    graph = _small_graph()
    conv = graph.ops[0]
    weights = graph.tensor(conv.inputs[1])
    bias = graph.tensor(conv.inputs[2])
    _expect(_replace_tensor(graph, weights.name, quant=dataclasses.replace(weights.quant, zero_point=(0, 1, 0))),
            "op 0 (CONV_2D)", "symmetric")
    _expect(_replace_tensor(graph, weights.name, quant=dataclasses.replace(weights.quant, axis=3, scale=(0.1,) * 2,
                                                                           zero_point=(0, 0))),
            "op 0 (CONV_2D)", f"weights '{weights.name}'", "axis 3")
    _expect(_replace_tensor(graph, bias.name, quant=QuantParams((1e-3,) * 3, (0,) * 3, axis=0)),
            "op 0 (CONV_2D)", f"bias '{bias.name}' channel 0")
    _expect(_replace_tensor(graph, bias.name, dtype="int64", data=bias.data.astype(np.int64)), "bias", "int32")
    _expect(_replace_tensor(graph, graph.inputs[0], quant=None), "op 0 (CONV_2D)", "per-tensor quantization")
    _expect(_replace_tensor(graph, graph.inputs[0], dtype="int16", quant=QuantParams((0.1,), (0,))),
            "op 0 (CONV_2D)", "int16", "must agree")
    _expect(_replace_tensor(graph, graph.outputs[0], quant=QuantParams((0.1,), (0,))), "op 4 (SOFTMAX)", "0.00390625")
    pooled = graph.ops[1].outputs[0]
    _expect(_replace_tensor(graph, pooled, quant=QuantParams((0.5,), (0,))), "op 1 (MAX_POOL_2D)", "share scale")
    _expect(_replace_tensor(graph, graph.inputs[0], quant=QuantParams((0.1,), (300,))), "zero point out of int8 range")
    _expect(_replace_tensor(graph, graph.inputs[0], quant=QuantParams((-0.1,), (0,))), "positive")


def test_softmax_int16_output_and_weights_holding_minus_128() -> None:
    """TFLite Micro's 8-in 16-out SOFTMAX (scale 1/65536, zero point -32768, which QUANTIZE takes on) and
    int8 weights of -128 verify."""
    graph = _small_graph()
    fc = graph.ops[3]
    weights = graph.tensor(fc.inputs[1])
    verify_graph(_replace_tensor(graph, weights.name, data=np.full_like(weights.data, -128)))
    wide = _replace_tensor(graph, graph.outputs[0], dtype="int16", quant=QuantParams((1 / 65536,), (-32768,)))
    verify_graph(wide)
    _expect(_replace_tensor(wide, graph.outputs[0], quant=QuantParams((1 / 65536,), (0,))),
            "op 4 (SOFTMAX)", "zero point -32768")
    b = GraphBuilder()
    x = b.input((1, 4), 0.2, 0)
    alone = b.build([b.softmax(x)])
    alone = _replace_tensor(alone, alone.outputs[0], dtype="int16", quant=QuantParams((1 / 65536,), (-32768,)))
    verify_graph(alone)
    # an int16 input is SOFTMAX's int16 -> int16 form, whose output has zero point 0
    _expect(_replace_tensor(alone, x, dtype="int16"), "op 0 (SOFTMAX)", "zero point -32768; int16 activations need 0")


def test_float_edges_verify() -> None:
    b = GraphBuilder()
    x = b.quantize(b.float_input((1, 8)), 0.1, 0)
    y = b.dequantize(b.fully_connected(x, _weights((2, 8)), 0.1, np.array([1, 2]), 0.3, 0))
    graph = b.build([y])
    assert graph.tensor(graph.outputs[0]).dtype == "float32"
    _expect(_replace_op(graph, 0, kind="RELU"), "op 0 (RELU)", "'input_0' is float32")
    _expect(_replace_op(graph, 2, kind="RELU"), "op 2 (RELU)", "is float32")


def test_mean_axes_must_be_constant() -> None:
    b = GraphBuilder()
    x = b.input((1, 4, 4, 2), 0.1, 0)
    axes = b.input((2,), 1.0, 0, name="axes")
    with pytest.raises(PqkError, match="constant"):
        b._emit("MEAN", (x, axes), MeanAttrs(True), QuantParams((0.1,), (0,)))


def test_summary_counts() -> None:
    graph = _small_graph()
    summary = summarize(graph)
    conv, pool, reshape, fc, softmax = summary.layers
    assert conv.macs == 6 * 6 * 3 * 3 * 3 * 2 and conv.weight_count == 54 and conv.bias_count == 3
    assert fc.macs == 4 * 27 and fc.bias_count == 0
    assert pool.macs == 0 and pool.sparsity is None and pool.params == "filter 2x2 stride 2x2 VALID"
    assert conv.params == "stride 1x1 SAME RELU"
    weights = graph.tensor(graph.ops[0].inputs[1]).data
    assert conv.sparsity == pytest.approx(np.mean(weights == 0))
    assert summary.total_macs == conv.macs + fc.macs
    assert summary.total_weights == 54 + 108
    assert summary.inputs[0]["shape"] == [1, 6, 6, 2]
    assert render_table(summary).row_count == len(graph.ops) + 1


def test_infer_output_shapes_direct() -> None:
    x = Tensor("x", (1, 4, 4, 8), "int8", QuantParams((0.1,), (0,)))
    op = Op("MAX_POOL_2D", "pool", ("x",), ("y",), Pool2DAttrs(2, 2, 2, 2, "VALID"))
    assert infer_output_shapes(op, {"x": x}) == ((1, 2, 2, 8),)


def test_tflite_micro_limits() -> None:
    b = GraphBuilder()
    x = b.input((1, 2, 2, 2), 0.1, 0)
    graph = b.build([b.relu6(b.concatenation([x, x], axis=3))])
    concat, relu6 = graph.ops
    _expect(_replace_op(graph, 0, attrs=dataclasses.replace(concat.attrs, activation="RELU")),
            "op 0 (CONCATENATION)", "fused activation")
    _expect(_replace_op(graph, 0, inputs=(x,) * 11), "op 0 (CONCATENATION)", "11 inputs")
    _expect(_replace_tensor(graph, relu6.outputs[0], quant=QuantParams((0.2,), (0,))), "op 1 (RELU6)", "share scale")

    b = GraphBuilder()
    x = b.input((1, 1, 1, 1, 1, 2), 0.1, 0)
    with pytest.raises(PqkError, match=r"op 0 \(PAD\): input rank 6 exceeds 5"):
        b.build([b.pad(x, [[0, 0]] * 5 + [[1, 1]])])
    b = GraphBuilder()
    x = b.input((1,) * 7, 0.1, 0)
    with pytest.raises(PqkError, match="rank 7"):
        b.build([b.relu(x)])
