"""Hypothesis strategies for quantized models: every op kind alone, and random multi-op networks.

Graphs are built with ``GraphBuilder`` from parameters hypothesis draws (shapes, strides,
paddings, dilations, depth multipliers, scales, zero points, activations, sparsity). Weight and
bias values come from a numpy generator seeded by a drawn integer: drawing thousands of weights
one by one through hypothesis would be slow and gives shrinking nothing useful.

Scales stay inside what TFLite Micro accepts (e.g. ADD's output multiplier below one, SOFTMAX's
input multiplier above one); layer output scales are derived from the expected accumulator
spread so outputs use the int8 range instead of saturating.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from pqk_mcu.ir.builder import GraphBuilder, per_tensor
from pqk_mcu.ir.graph import Graph
from pqk_mcu.ir.ops import ACTIVATIONS, LeakyReluAttrs, NoAttrs, PackAttrs, ResizeAttrs, SqueezeAttrs, StridedSliceAttrs

SINGLE_OP_KINDS = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
    "ADD",
    "SUB",
    "MUL",
    "MAXIMUM",
    "MINIMUM",
    "PRELU",
    "TRANSPOSE",
    "STRIDED_SLICE",
    "SQUEEZE",
    "RESIZE_NEAREST_NEIGHBOR",
    "PACK",
    "RESHAPE",
    "SOFTMAX",
    "QUANTIZE",
    "DEQUANTIZE",
    "PAD",
    "MEAN",
    "CONCATENATION",
    "RELU",
    "RELU6",
    "LEAKY_RELU",
    "HARD_SWISH",
    "LOGISTIC",
    "TANH",
)

zero_points = st.integers(-128, 127)
activations = st.sampled_from(ACTIVATIONS)
paddings = st.sampled_from(("SAME", "VALID"))
seeds = st.integers(0, 2**32 - 1)


def scales(low_exp: float = -9.0, high_exp: float = 1.0):
    """Log-uniform positive scales 2^low_exp .. 2^high_exp."""
    return st.floats(low_exp, high_exp).map(lambda e: float(np.float32(2.0**e)))


def _weights(rng: np.random.Generator, shape, sparsity: float) -> np.ndarray:
    w = rng.integers(-127, 128, size=shape)
    w[rng.random(shape) < sparsity] = 0
    return w.astype(np.int8)


def _bias(rng: np.random.Generator, channels: int, use_bias: bool):
    return rng.integers(-(1 << 14), 1 << 14, size=channels).astype(np.int32) if use_bias else None


def _weight_scales(draw, channels: int):
    """One scale, or one per channel (per-channel quantization)."""
    if draw(st.booleans()):
        return draw(scales(-10, -4))
    base = draw(scales(-10, -4))
    rng = np.random.default_rng(draw(seeds))
    return [float(np.float32(base * 2.0 ** rng.uniform(-2, 2))) for _ in range(channels)]


def _output_scale(draw, input_scale: float, weight_scale, fan_in: int) -> float:
    """Roughly the accumulator's standard deviation mapped onto ~40 int8 steps, times 2^[-2, 2]."""
    w = float(np.mean(weight_scale))
    spread = input_scale * w * 70.0 * 70.0 * math.sqrt(max(fan_in, 1)) / 40.0
    return float(np.float32(spread * 2.0 ** draw(st.floats(-2, 2))))


@st.composite
def nhwc_shapes(draw, max_hw: int = 12, max_c: int = 8, max_n: int = 2):
    return (draw(st.integers(1, max_n)), draw(st.integers(1, max_hw)), draw(st.integers(1, max_hw)),
            draw(st.integers(1, max_c)))


@st.composite
def any_shapes(draw, min_rank: int = 1, max_rank: int = 4, max_dim: int = 6):
    rank = draw(st.integers(min_rank, max_rank))
    return tuple(draw(st.integers(1, max_dim)) for _ in range(rank))


def _window_fits(in_size: int, k: int, dilation: int, padding: str) -> bool:
    return padding == "SAME" or in_size >= (k - 1) * dilation + 1


# ------------------------------------------------------------------------ single-op builders
# Each takes (draw, builder, x) where x is an int8 input of the builder, and returns the output.


def _conv(draw, b: GraphBuilder, x: str) -> str:
    n, h, w, c = b.shape(x)
    out_c = draw(st.integers(1, 8))
    k_h, k_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(paddings)
    if not (_window_fits(h, k_h, dilation[0], padding) and _window_fits(w, k_w, dilation[1], padding)):
        dilation, padding = (1, 1), "SAME"
    rng = np.random.default_rng(draw(seeds))
    weight_scale = _weight_scales(draw, out_c)
    in_scale = b.quant(x).scale[0]
    return b.conv2d(
        x, _weights(rng, (out_c, k_h, k_w, c), draw(st.sampled_from((0.0, 0.5, 0.9)))), weight_scale,
        _bias(rng, out_c, draw(st.booleans())), _output_scale(draw, in_scale, weight_scale, k_h * k_w * c),
        draw(zero_points), stride=stride, padding=padding, dilation=dilation, activation=draw(activations),
    )


def _depthwise(draw, b: GraphBuilder, x: str) -> str:
    n, h, w, c = b.shape(x)
    multiplier = draw(st.integers(1, 3))
    k_h, k_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(paddings)
    if not (_window_fits(h, k_h, dilation[0], padding) and _window_fits(w, k_w, dilation[1], padding)):
        dilation, padding = (1, 1), "SAME"
    rng = np.random.default_rng(draw(seeds))
    out_c = c * multiplier
    weight_scale = _weight_scales(draw, out_c)
    in_scale = b.quant(x).scale[0]
    return b.depthwise_conv2d(
        x, _weights(rng, (1, k_h, k_w, out_c), draw(st.sampled_from((0.0, 0.5)))), weight_scale,
        _bias(rng, out_c, draw(st.booleans())), _output_scale(draw, in_scale, weight_scale, k_h * k_w),
        draw(zero_points), stride=stride, padding=padding, dilation=dilation, activation=draw(activations),
    )


def _fully_connected(draw, b: GraphBuilder, x: str) -> str:
    shape = b.shape(x)
    keep_num_dims = draw(st.booleans())
    in_c = shape[-1] if keep_num_dims or draw(st.booleans()) else int(np.prod(shape))
    out_c = draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(seeds))
    weight_scale = _weight_scales(draw, out_c)
    in_scale = b.quant(x).scale[0]
    return b.fully_connected(
        x, _weights(rng, (out_c, in_c), draw(st.sampled_from((0.0, 0.7)))), weight_scale,
        _bias(rng, out_c, draw(st.booleans())), _output_scale(draw, in_scale, weight_scale, in_c),
        draw(zero_points), activation=draw(activations), keep_num_dims=keep_num_dims,
    )


def _pool(kind: str):
    def build(draw, b: GraphBuilder, x: str) -> str:
        _, h, w, _ = b.shape(x)
        padding = draw(paddings)
        k_h = draw(st.integers(1, 4 if padding == "SAME" else min(4, h)))
        k_w = draw(st.integers(1, 4 if padding == "SAME" else min(4, w)))
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        method = b.average_pool2d if kind == "AVERAGE_POOL_2D" else b.max_pool2d
        return method(x, (k_h, k_w), stride, padding, activation=draw(activations))

    return build


def _broadcast_partner(draw, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts with ``shape``: some dims set to 1, maybe fewer leading dims."""
    partner = [d if draw(st.booleans()) else 1 for d in shape]
    drop = draw(st.integers(0, len(partner) - 1))
    return tuple(partner[drop:])


def _binary(kind: str):
    def build(draw, b: GraphBuilder, x: str) -> str:
        shape = b.shape(x)
        other_shape = shape if draw(st.booleans()) else _broadcast_partner(draw, shape)
        other_scale, other_zp = draw(scales(-8, 0)), draw(zero_points)
        if draw(st.integers(0, 3)) == 0:  # a constant operand, as converters emit for biases/scales
            rng = np.random.default_rng(draw(seeds))
            y = b.constant(rng.integers(-128, 128, size=other_shape), "int8", per_tensor(other_scale, other_zp))
        else:
            y = b.input(other_shape, other_scale, other_zp)
        a, c = draw(st.permutations([x, y]))
        s1, s2 = b.quant(a).scale[0], b.quant(c).scale[0]
        if kind in ("ADD", "SUB"):
            out_scale = float(np.float32(max(s1, s2) * 2.0 ** draw(st.floats(-1, 3))))
            return b.binary(kind, a, c, out_scale, draw(zero_points), activation=draw(activations))
        out_scale = float(np.float32(s1 * s2 * 128 * 2.0 ** draw(st.floats(-2, 3))))
        return b.mul(a, c, out_scale, draw(zero_points), activation=draw(activations))

    return build


def _reshape(draw, b: GraphBuilder, x: str) -> str:
    size = b.tensor(x).size
    dims = []
    remaining = size
    for p in range(2, remaining + 1):
        while remaining % p == 0:
            dims.append(p)
            remaining //= p
    groups = draw(st.integers(1, 4))
    shape = [1] * groups
    for d in dims:
        shape[draw(st.integers(0, groups - 1))] *= d
    return b.reshape(x, shape)


def _softmax(draw, b: GraphBuilder, x: str) -> str:
    beta = draw(st.sampled_from((1.0, 1.0, 0.5, 2.0, draw(st.floats(0.1, 3.0)))))
    return b.softmax(x, beta=beta)


def _quantize_int8(draw, b: GraphBuilder, x: str) -> str:
    in_scale = b.quant(x).scale[0]
    return b.quantize(x, float(np.float32(in_scale * 2.0 ** draw(st.floats(-3, 3)))), draw(zero_points))


def _pad(draw, b: GraphBuilder, x: str) -> str:
    rank = len(b.shape(x))
    return b.pad(x, [[draw(st.integers(0, 3)), draw(st.integers(0, 3))] for _ in range(rank)])


def _mean(draw, b: GraphBuilder, x: str) -> str:
    rank = len(b.shape(x))
    # TFLite Micro resolves at most two reduction axes.
    axes = draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=min(2, rank), unique=True))
    if draw(st.booleans()):
        axes = [a - rank if draw(st.booleans()) else a for a in axes]
    q = b.quant(x)
    if draw(st.booleans()):
        out_scale, out_zp = q.scale[0], q.zero_point[0]
    else:
        out_scale, out_zp = float(np.float32(q.scale[0] * 2.0 ** draw(st.floats(-3, 3)))), draw(zero_points)
    return b.mean(x, axes, draw(st.booleans()), out_scale, out_zp)


def _concatenation(draw, b: GraphBuilder, x: str) -> str:
    shape = b.shape(x)
    axis = draw(st.integers(0, len(shape) - 1))
    q = b.quant(x)
    parts = [x]
    for _ in range(draw(st.integers(1, 3))):
        other = tuple(draw(st.integers(1, 5)) if i == axis else d for i, d in enumerate(shape))
        parts.append(b.input(other, q.scale[0], q.zero_point[0]))
    order = draw(st.permutations(parts))
    return b.concatenation(list(order), axis - len(shape) * draw(st.integers(0, 1)))


def _maximum_minimum(kind: str):
    """Against a partner of the same quantization (TFLite Micro compares raw values), maybe broadcast."""

    def build(draw, b: GraphBuilder, x: str) -> str:
        shape = b.shape(x)
        other_shape = shape if draw(st.booleans()) else _broadcast_partner(draw, shape)
        q = b.quant(x)
        if draw(st.integers(0, 3)) == 0:
            rng = np.random.default_rng(draw(seeds))
            y = b.constant(rng.integers(-128, 128, size=other_shape), "int8", q)
        else:
            y = b.input(other_shape, q.scale[0], q.zero_point[0])
        return b.op(kind, tuple(draw(st.permutations([x, y]))), NoAttrs())

    return build


def _transpose(draw, b: GraphBuilder, x: str) -> str:
    perm = draw(st.permutations(range(len(b.shape(x)))))
    return b.op("TRANSPOSE", (x, b.constant(np.array(perm), "int32")), NoAttrs())


def _strided_slice(draw, b: GraphBuilder, x: str) -> str:
    """Random begin / end / strides per axis (negative indices and strides, masks, one shrunk axis at most)
    that select at least one element."""
    shape = b.shape(x)
    begin, end, strides = [], [], []
    shrunk = draw(st.integers(0, len(shape) - 1)) if draw(st.booleans()) and len(shape) > 1 else None
    for axis, size in enumerate(shape):
        # A shrunk axis takes one element forward (backward it would select none).
        stride = 1 if axis == shrunk else draw(st.sampled_from([1, 1, 2, 3, -1, -2]))
        first, last = sorted(draw(st.lists(st.integers(0, size - 1), min_size=2, max_size=2)))
        start, stop = (first, last + 1) if stride > 0 else (last, first - 1)
        begin.append(start - size * draw(st.integers(0, 1)))  # the same index counted from the end
        if stop == -1:
            stop = -size - 1  # before the first element: -1 alone would count from the end
        elif stop < size and draw(st.booleans()):
            stop -= size
        end.append(stop)
        strides.append(stride)
    masks = [draw(st.integers(0, 2 ** len(shape) - 1)) for _ in range(2)]
    shrink = 0 if shrunk is None else 1 << shrunk
    operands = tuple(b.constant(np.array(v), "int32") for v in (begin, end, strides))
    return b.op("STRIDED_SLICE", (x, *operands), StridedSliceAttrs(masks[0], masks[1], shrink))


def _squeeze(draw, b: GraphBuilder, x: str) -> str:
    """Every size-1 axis, or some of them listed (maybe counted from the end); none when there are none."""
    shape = b.shape(x)
    ones = [axis for axis, size in enumerate(shape) if size == 1]
    listed = draw(st.lists(st.sampled_from(ones), unique=True)) if ones else []
    dims = tuple(axis - len(shape) * draw(st.integers(0, 1)) for axis in listed)
    return b.op("SQUEEZE", (x,), SqueezeAttrs(dims))


def _prelu(draw, b: GraphBuilder, x: str) -> str:
    """Alpha a constant that broadcasts to the input."""
    alpha_shape = _broadcast_partner(draw, b.shape(x))
    rng = np.random.default_rng(draw(seeds))
    alpha = b.constant(rng.integers(-128, 128, size=alpha_shape), "int8",
                       per_tensor(draw(scales(-10, -2)), draw(zero_points)))
    out_scale = float(np.float32(b.quant(x).scale[0] * 2.0 ** draw(st.floats(-2, 2))))
    return b.op("PRELU", (x, alpha), NoAttrs(), out_scale, draw(zero_points))


def _resize_nearest_neighbor(draw, b: GraphBuilder, x: str) -> str:
    """Up- or downscaled NHWC, any align_corners / half_pixel_centers."""
    size = [draw(st.integers(1, 2 * d + 1)) for d in b.shape(x)[1:3]]
    attrs = ResizeAttrs(draw(st.booleans()), draw(st.booleans()))
    return b.op("RESIZE_NEAREST_NEIGHBOR", (x, b.constant(np.array(size), "int32")), attrs)


def _pack(draw, b: GraphBuilder, x: str) -> str:
    """x stacked with inputs and constants of its shape and quantization."""
    q = b.quant(x)
    values = [x]
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            rng = np.random.default_rng(draw(seeds))
            values.append(b.constant(rng.integers(-128, 128, size=b.shape(x)), "int8", q))
        else:
            values.append(b.input(b.shape(x), q.scale[0], q.zero_point[0]))
    values = draw(st.permutations(values))
    return b.op("PACK", tuple(values), PackAttrs(len(values), draw(st.integers(0, len(b.shape(x))))))


def _relu(kind: str):
    def build(draw, b: GraphBuilder, x: str) -> str:
        q = b.quant(x)
        if kind == "RELU" and draw(st.booleans()):
            return b.relu(x, float(np.float32(q.scale[0] * 2.0 ** draw(st.floats(-2, 2)))), draw(zero_points))
        return (b.relu if kind == "RELU" else b.relu6)(x)

    return build


def _leaky_relu(draw, b: GraphBuilder, x: str) -> str:
    alpha = float(np.float32(draw(st.sampled_from([0.0, 0.01, 0.1, 0.2, 0.3, 1.5]))))
    out_scale = float(np.float32(b.quant(x).scale[0] * 2.0 ** draw(st.floats(-2, 2))))
    return b.op("LEAKY_RELU", (x,), LeakyReluAttrs(alpha), out_scale, draw(zero_points))


def _hard_swish(draw, b: GraphBuilder, x: str) -> str:
    out_scale = float(np.float32(b.quant(x).scale[0] * 2.0 ** draw(st.floats(-2, 2))))
    return b.op("HARD_SWISH", (x,), NoAttrs(), out_scale, draw(zero_points))


def _sigmoid(kind: str):
    def build(draw, b: GraphBuilder, x: str) -> str:
        return b.logistic(x) if kind == "LOGISTIC" else b.tanh(x)

    return build


SINGLE_OP_BUILDERS = {
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": _depthwise,
    "FULLY_CONNECTED": _fully_connected,
    "AVERAGE_POOL_2D": _pool("AVERAGE_POOL_2D"),
    "MAX_POOL_2D": _pool("MAX_POOL_2D"),
    "ADD": _binary("ADD"),
    "SUB": _binary("SUB"),
    "MUL": _binary("MUL"),
    "MAXIMUM": _maximum_minimum("MAXIMUM"),
    "MINIMUM": _maximum_minimum("MINIMUM"),
    "PRELU": _prelu,
    "TRANSPOSE": _transpose,
    "STRIDED_SLICE": _strided_slice,
    "SQUEEZE": _squeeze,
    "RESIZE_NEAREST_NEIGHBOR": _resize_nearest_neighbor,
    "PACK": _pack,
    "RESHAPE": _reshape,
    "SOFTMAX": _softmax,
    "QUANTIZE": _quantize_int8,
    "PAD": _pad,
    "MEAN": _mean,
    "CONCATENATION": _concatenation,
    "RELU": _relu("RELU"),
    "RELU6": _relu("RELU6"),
    "LEAKY_RELU": _leaky_relu,
    "HARD_SWISH": _hard_swish,
    "LOGISTIC": _sigmoid("LOGISTIC"),
    "TANH": _sigmoid("TANH"),
}
NHWC_KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "RESIZE_NEAREST_NEIGHBOR")


@st.composite
def single_op_graphs(draw, kind: str) -> Graph:
    """A graph holding one ``kind`` op (QUANTIZE: float32 or int8 input) with random parameters."""
    b = GraphBuilder()
    if kind == "QUANTIZE" and draw(st.booleans()):
        x = b.float_input(draw(any_shapes()))
        return b.build([b.quantize(x, draw(scales(-9, 0)), draw(zero_points))])
    shape = draw(nhwc_shapes()) if kind in NHWC_KINDS else draw(any_shapes())
    # LOGISTIC / TANH: scales whose int8 range covers the interesting [-8, 8] interval and beyond.
    in_scale = draw(scales(-8, -1) if kind in ("LOGISTIC", "TANH") else scales())
    x = b.input(shape, in_scale, draw(zero_points))
    if kind == "DEQUANTIZE":
        return b.build([b.dequantize(x)])
    return b.build([SINGLE_OP_BUILDERS[kind](draw, b, x)])


# ------------------------------------------------------------------------ multi-op networks

BODY_KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD", "MUL", "PAD", "RELU",
              "RELU6", "LOGISTIC", "TANH", "QUANTIZE", "CONCATENATION", "MEAN_KEEP")


def _residual_add(draw, b: GraphBuilder, x: str) -> str:
    """x + conv(x): a ResNet-style skip connection (same shape on both sides)."""
    branch_in = b.conv2d(
        x, _weights(np.random.default_rng(draw(seeds)), (b.shape(x)[-1], 3, 3, b.shape(x)[-1]), 0.3),
        draw(scales(-9, -5)), None, b.quant(x).scale[0] * 2.0 ** draw(st.floats(-1, 1)), draw(zero_points),
        padding="SAME", activation=draw(activations),
    )
    s = max(b.quant(x).scale[0], b.quant(branch_in).scale[0])
    a, c = draw(st.permutations([x, branch_in]))
    if draw(st.booleans()):
        return b.add(a, c, float(np.float32(s * 2.0 ** draw(st.floats(0, 2)))), draw(zero_points), draw(activations))
    product_scale = b.quant(a).scale[0] * b.quant(c).scale[0] * 128
    return b.mul(a, c, float(np.float32(product_scale * 2.0 ** draw(st.floats(-1, 2)))), draw(zero_points),
                 draw(activations))


def _branch_concat(draw, b: GraphBuilder, x: str) -> str:
    """Concatenate x with a pooled copy of itself along channels (same quantization)."""
    pooled = b.max_pool2d(x, 3, 1, "SAME")
    return b.concatenation(list(draw(st.permutations([x, pooled]))), 3)


def _body_op(draw, b: GraphBuilder, x: str, kind: str) -> str:
    if kind == "ADD" or kind == "MUL":
        return _residual_add(draw, b, x)
    if kind == "CONCATENATION":
        return _branch_concat(draw, b, x) if b.shape(x)[-1] <= 8 else x
    if kind == "PAD":
        return b.pad(x, [[0, 0], [draw(st.integers(0, 2)), draw(st.integers(0, 2))],
                         [draw(st.integers(0, 2)), draw(st.integers(0, 2))], [0, 0]])
    if kind == "MEAN_KEEP":
        q = b.quant(x)
        return b.mean(x, [1, 2], True, float(np.float32(q.scale[0] * 2.0 ** draw(st.floats(-2, 1)))), draw(zero_points))
    return SINGLE_OP_BUILDERS[kind](draw, b, x)


@st.composite
def multi_op_graphs(draw) -> Graph:
    """A small CNN: optional float QUANTIZE edge, 2-6 body ops, then a classifier head
    (MEAN or pooling + RESHAPE + FULLY_CONNECTED + SOFTMAX, or a plain output), optional DEQUANTIZE."""
    b = GraphBuilder()
    shape = draw(nhwc_shapes(max_hw=10, max_c=6, max_n=1))
    float_edges = draw(st.booleans())
    if float_edges:
        x = b.quantize(b.float_input(shape), draw(scales(-8, -2)), draw(zero_points))
    else:
        x = b.input(shape, draw(scales(-8, -2)), draw(zero_points))
    for kind in draw(st.lists(st.sampled_from(BODY_KINDS), min_size=2, max_size=6)):
        x = _body_op(draw, b, x, kind)
    head = draw(st.sampled_from(("classifier", "mean", "none")))
    if head == "classifier":
        x = b.average_pool2d(x, (b.shape(x)[1], b.shape(x)[2]), 1, "VALID")
        x = b.reshape(x, (1, -1))
        x = _fully_connected(draw, b, x)
        x = b.softmax(x)
    elif head == "mean":
        q = b.quant(x)
        x = b.mean(x, [1, 2], False, q.scale[0], q.zero_point[0])
    if float_edges:
        x = b.dequantize(x)
    return b.build([x])
