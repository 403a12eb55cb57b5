"""Shape inference for every op kind, with TFLite's padding arithmetic.

The shape rules here are named by the op definitions (``pqk_mcu.ir.ops``);
``infer_output_shapes(op, tensors)`` returns the output shapes an op produces from its input
tensors (constant operands such as PAD's paddings or MEAN's axes are read from their data).
Inconsistent inputs raise ``ShapeError`` with a message that the verifier prefixes with the op.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from pqk_mcu.errors import PqkError
from pqk_mcu.ir.graph import Op, Tensor
from pqk_mcu.ir.opdef import OP_DEFS


class ShapeError(PqkError):
    """An op's operands have shapes the op cannot take."""


def conv_output_size(in_size: int, filter_size: int, stride: int, dilation: int, padding: str) -> int:
    """TFLite ``ComputeOutSize``."""
    effective = (filter_size - 1) * dilation + 1
    if padding == "SAME":
        return (in_size + stride - 1) // stride
    return (in_size + stride - effective) // stride


def padding_before(in_size: int, filter_size: int, stride: int, dilation: int, out_size: int) -> tuple[int, int]:
    """TFLite ``ComputePaddingWithOffset``: (padding before, extra padding after).

    The padding after the data is ``before + offset``; VALID convolutions come out as (0, 0).
    """
    effective = (filter_size - 1) * dilation + 1
    total = max((out_size - 1) * stride + effective - in_size, 0)
    return total // 2, total % 2


def infer_output_shapes(op: Op, tensors: Mapping[str, Tensor]) -> tuple[tuple[int, ...], ...]:
    """Output shapes of ``op`` given the graph's tensors (by name)."""
    inputs = [tensors[name] if name else None for name in op.inputs]
    definition = OP_DEFS.get(op.kind)
    if definition is None:
        raise ShapeError(f"no shape rule for op kind {op.kind}")
    shapes = definition.shape_rule(op, inputs)
    return tuple(shapes) if definition.multiple_outputs else (shapes,)


def brief_shape(values: list[int]) -> str:
    """A shape for an error message; corrupt files can claim thousands of dimensions."""
    shown = ", ".join(str(v) for v in values[:8])
    return f"[{shown}, ... ({len(values)} dims)]" if len(values) > 8 else f"[{shown}]"


def _require_rank(t: Tensor, rank: int, role: str) -> None:
    if len(t.shape) != rank:
        raise ShapeError(f"{role} '{t.name}' must have rank {rank}, has shape {t.shape}")


def _spatial(in_h: int, in_w: int, k_h: int, k_w: int, a) -> tuple[int, int]:
    dilation_h = getattr(a, "dilation_h", 1)
    dilation_w = getattr(a, "dilation_w", 1)
    out_h = conv_output_size(in_h, k_h, a.stride_h, dilation_h, a.padding)
    out_w = conv_output_size(in_w, k_w, a.stride_w, dilation_w, a.padding)
    if out_h <= 0 or out_w <= 0:
        raise ShapeError(
            f"window {k_h}x{k_w} (dilation {dilation_h}x{dilation_w}, {a.padding}) does not fit input {in_h}x{in_w}"
        )
    return out_h, out_w


def conv2d_shape(op: Op, inputs: list) -> tuple[int, ...]:
    x, w = inputs[0], inputs[1]
    _require_rank(x, 4, "input")
    _require_rank(w, 4, "filter")
    n, h, wd, c = x.shape
    out_c, k_h, k_w, in_c = w.shape
    if in_c != c:
        raise ShapeError(f"filter '{w.name}' {w.shape} expects {in_c} input channels, input has {c} (grouped conv unsupported)")
    _check_bias(inputs, out_c)
    return (n, *_spatial(h, wd, k_h, k_w, op.attrs), out_c)


def depthwise_shape(op: Op, inputs: list) -> tuple[int, ...]:
    x, w = inputs[0], inputs[1]
    _require_rank(x, 4, "input")
    _require_rank(w, 4, "filter")
    n, h, wd, c = x.shape
    one, k_h, k_w, out_c = w.shape
    if one != 1 or out_c != c * op.attrs.depth_multiplier:
        raise ShapeError(
            f"filter '{w.name}' {w.shape} does not match {c} input channels x depth multiplier {op.attrs.depth_multiplier}"
        )
    _check_bias(inputs, out_c)
    return (n, *_spatial(h, wd, k_h, k_w, op.attrs), out_c)


def fully_connected_shape(op: Op, inputs: list) -> tuple[int, ...]:
    x, w = inputs[0], inputs[1]
    _require_rank(w, 2, "weights")
    out_c, in_c = w.shape
    if x.size % in_c:
        raise ShapeError(f"input '{x.name}' {x.shape} cannot be flattened into rows of {in_c} (weights {w.shape})")
    _check_bias(inputs, out_c)
    if op.attrs.keep_num_dims:
        if x.shape[-1] != in_c:
            raise ShapeError(f"keep_num_dims needs the last input dimension {x.shape[-1]} to equal {in_c}")
        return (*x.shape[:-1], out_c)
    return (x.size // in_c, out_c)


def _check_bias(inputs: list, out_c: int) -> None:
    if len(inputs) > 2 and inputs[2] is not None and inputs[2].shape != (out_c,):
        raise ShapeError(f"bias '{inputs[2].name}' has shape {inputs[2].shape}, expected ({out_c},)")


def pool_shape(op: Op, inputs: list) -> tuple[int, ...]:
    x = inputs[0]
    _require_rank(x, 4, "input")
    n, h, w, c = x.shape
    return (n, *_spatial(h, w, op.attrs.filter_h, op.attrs.filter_w, op.attrs), c)


def broadcast_shape(op: Op, inputs: list) -> tuple[int, ...]:
    a, b = inputs[0], inputs[1]
    try:
        return tuple(int(d) for d in np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        raise ShapeError(f"inputs '{a.name}' {a.shape} and '{b.name}' {b.shape} do not broadcast") from None


def reshape_shape(op: Op, inputs: list) -> tuple[int, ...]:
    x = inputs[0]
    new_shape = tuple(op.attrs.new_shape)
    if any(d <= 0 for d in new_shape) or int(np.prod(new_shape, dtype=np.int64)) != x.size:
        raise ShapeError(f"cannot reshape '{x.name}' {x.shape} ({x.size} elements) to {new_shape}")
    return new_shape


def same_shape(op: Op, inputs: list) -> tuple[int, ...]:
    return inputs[0].shape


def _constant_ints(t: Tensor | None, role: str) -> np.ndarray:
    if t is None or not t.is_constant or t.dtype not in ("int32", "int64"):
        raise ShapeError(f"{role} must be a constant int32 tensor")
    return t.data.astype(np.int64)


def pad_shape(op: Op, inputs: list) -> tuple[int, ...]:
    x = inputs[0]
    paddings = _constant_ints(inputs[1] if len(inputs) > 1 else None, "paddings")
    if paddings.shape != (len(x.shape), 2) or (paddings < 0).any():
        raise ShapeError(f"paddings {paddings.tolist()} must be non-negative with shape ({len(x.shape)}, 2)")
    return tuple(int(d + p[0] + p[1]) for d, p in zip(x.shape, paddings))


def normalized_axes(axes: np.ndarray, rank: int) -> tuple[int, ...]:
    """MEAN's reduction axes, negatives resolved, duplicates removed, sorted."""
    result = set()
    for axis in axes.reshape(-1).tolist():
        if not -rank <= axis < rank:
            raise ShapeError(f"axis {axis} is out of range for rank {rank}")
        result.add(axis % rank)
    return tuple(sorted(result))


def mean_shape(op: Op, inputs: list) -> tuple[int, ...]:
    x = inputs[0]
    axes = normalized_axes(_constant_ints(inputs[1] if len(inputs) > 1 else None, "axes"), len(x.shape))
    if op.attrs.keep_dims:
        return tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    return tuple(d for i, d in enumerate(x.shape) if i not in axes)


def concatenation_shape(op: Op, inputs: list) -> tuple[int, ...]:
    first = inputs[0]
    rank = len(first.shape)
    axis = op.attrs.axis
    if not 0 <= axis < rank:
        raise ShapeError(f"axis {axis} is out of range for rank {rank}")
    total = 0
    for t in inputs:
        if len(t.shape) != rank or any(d != e for i, (d, e) in enumerate(zip(t.shape, first.shape)) if i != axis):
            raise ShapeError(f"input '{t.name}' {t.shape} does not match '{first.name}' {first.shape} off axis {axis}")
        total += t.shape[axis]
    return tuple(total if i == axis else d for i, d in enumerate(first.shape))


def squeeze_shape(op: Op, inputs: list) -> tuple[int, ...]:
    """SQUEEZE drops the listed axes (all axes of size 1 when none are listed); each must have size 1."""
    x = inputs[0]
    rank = len(x.shape)
    if not op.attrs.squeeze_dims:
        return tuple(d for d in x.shape if d != 1)
    dropped = set()
    for axis in op.attrs.squeeze_dims:
        if not -rank <= axis < rank or x.shape[axis] != 1:
            raise ShapeError(f"cannot squeeze axis {axis} of '{x.name}' {x.shape}")
        dropped.add(axis % rank)
    return tuple(d for axis, d in enumerate(x.shape) if axis not in dropped)


def transpose_permutation(op: Op, inputs: list) -> tuple[int, ...]:
    """TRANSPOSE's constant permutation: output axis k is input axis perm[k]."""
    x = inputs[0]
    perm = _constant_ints(inputs[1] if len(inputs) > 1 else None, "perm").reshape(-1)
    if sorted(perm.tolist()) != list(range(len(x.shape))):
        raise ShapeError(f"perm {perm.tolist()} is not a permutation of the {len(x.shape)} input axes")
    return tuple(int(axis) for axis in perm)


def transpose_shape(op: Op, inputs: list) -> tuple[int, ...]:
    return tuple(inputs[0].shape[axis] for axis in transpose_permutation(op, inputs))


def strided_slice_axes(op: Op, inputs: list) -> list[tuple[int, int, int]]:
    """STRIDED_SLICE's (start, count, stride) per input axis, as TFLite's ``StartForAxis`` /
    ``StopForAxis`` resolve the constant begin / end / strides with the masks (a shrunk axis counts 1)."""
    x = inputs[0]
    rank = len(x.shape)
    begin, end, strides = (
        _constant_ints(inputs[slot] if len(inputs) > slot else None, role).reshape(-1)
        for slot, role in ((1, "begin"), (2, "end"), (3, "strides"))
    )
    if not len(begin) == len(end) == len(strides) == rank:
        raise ShapeError(f"begin, end and strides need {rank} entries (one per input axis)")
    a = op.attrs
    axes = []
    for axis, size in enumerate(x.shape):
        stride = int(strides[axis])
        if stride == 0:
            raise ShapeError(f"stride of axis {axis} is 0")
        low, high = (0, size) if stride > 0 else (-1, size - 1)

        def clamped(index: int) -> int:  # a negative index counts from the end
            return min(max(index + size if index < 0 else index, low), high)

        # A masked begin / end is the axis's full range in the stride's direction.
        start = (low if stride > 0 else high) if a.begin_mask >> axis & 1 else clamped(int(begin[axis]))
        if a.shrink_axis_mask >> axis & 1:
            stop = start + 1
        elif a.end_mask >> axis & 1:
            stop = high if stride > 0 else low
        else:
            stop = clamped(int(end[axis]))
        count = max(0, -(-(stop - start) // stride))
        if count == 0:
            raise ShapeError(f"axis {axis} selects no elements (start {start}, stop {stop}, stride {stride})")
        axes.append((start, count, stride))
    return axes


def strided_slice_shape(op: Op, inputs: list) -> tuple[int, ...]:
    axes = strided_slice_axes(op, inputs)
    return tuple(count for axis, (_, count, _) in enumerate(axes) if not op.attrs.shrink_axis_mask >> axis & 1)


def resize_output_size(op: Op, inputs: list) -> tuple[int, int]:
    """RESIZE_NEAREST_NEIGHBOR's constant (new height, new width)."""
    size = _constant_ints(inputs[1] if len(inputs) > 1 else None, "size").reshape(-1)
    if size.shape != (2,) or (size <= 0).any():
        raise ShapeError(f"size {size.tolist()} must be two positive integers (height, width)")
    return int(size[0]), int(size[1])


def resize_shape(op: Op, inputs: list) -> tuple[int, ...]:
    x = inputs[0]
    _require_rank(x, 4, "input")
    return (x.shape[0], *resize_output_size(op, inputs), x.shape[3])


def nearest_source_indices(input_size: int, output_size: int, align_corners: bool, half_pixel_centers: bool) -> list[int]:
    """The input index each output index of RESIZE_NEAREST_NEIGHBOR copies (TFLite's ``GetNearestNeighbor``,
    in float32)."""
    if align_corners and output_size > 1:
        scale = np.float32(input_size - 1) / np.float32(output_size - 1)
    else:
        scale = np.float32(input_size) / np.float32(output_size)
    offset = np.float32(0.5 if half_pixel_centers else 0.0)
    indices = []
    for index in range(output_size):
        position = (np.float32(index) + offset) * scale
        # TfLiteRound rounds half away from zero; positions are never negative (+ 0.5 is exact in double).
        nearest = math.floor(float(position) + 0.5) if align_corners else math.floor(float(position))
        nearest = min(nearest, input_size - 1)
        indices.append(max(0, nearest) if half_pixel_centers else nearest)
    return indices


def pack_shape(op: Op, inputs: list) -> tuple[int, ...]:
    """PACK stacks its inputs (all of one shape) along a new output axis."""
    first = inputs[0]
    axis = op.attrs.axis
    if op.attrs.values_count != len(inputs):
        raise ShapeError(f"values_count {op.attrs.values_count} does not match the {len(inputs)} inputs")
    if not 0 <= axis <= len(first.shape):
        raise ShapeError(f"axis {axis} is out of range for stacking rank-{len(first.shape)} inputs")
    for t in inputs:
        if t.shape != first.shape:
            raise ShapeError(f"input '{t.name}' {t.shape} does not match '{first.name}' {first.shape}")
    return (*first.shape[:axis], len(inputs), *first.shape[axis:])


def svdf_shape(op: Op, inputs: list) -> tuple[int, ...]:
    """SVDF: input [batch, input_size], weights_feature [filters, input_size], weights_time
    [filters, memory], bias [units], state [batch, memory * filters] -> [batch, units], units = filters / rank."""
    x, feature, time, bias, state = inputs
    for t, role in ((x, "input"), (feature, "weights_feature"), (time, "weights_time"), (state, "activation state")):
        _require_rank(t, 2, role)
    batch, input_size = x.shape
    filters, memory = time.shape
    rank = op.attrs.rank
    if rank < 1 or filters % rank:
        raise ShapeError(f"rank {rank} does not divide the {filters} filters")
    if feature.shape != (filters, input_size):
        raise ShapeError(f"weights_feature '{feature.name}' has shape {feature.shape}, expected ({filters}, {input_size})")
    if state.shape != (batch, memory * filters):
        raise ShapeError(f"activation state '{state.name}' has shape {state.shape}, expected ({batch}, {memory * filters})")
    if bias is not None and bias.shape != (filters // rank,):
        raise ShapeError(f"bias '{bias.name}' has shape {bias.shape}, expected ({filters // rank},)")
    return (batch, filters // rank)


def transpose_conv_shape(op: Op, inputs: list) -> tuple[int, ...]:
    """TRANSPOSE_CONV: the constant output shape [n, h, w, out_c] (input 0), filter [out_c, kh, kw, in_c]
    (input 1), input [n, h, w, in_c] (input 2), bias [out_c] (input 3, optional)."""
    shape, w, x = inputs[0], inputs[1], inputs[2]
    _require_rank(x, 4, "input")
    _require_rank(w, 4, "filter")
    target = _constant_ints(shape, "output shape")
    if target.shape != (4,) or (target <= 0).any():
        raise ShapeError(f"output shape must hold 4 positive sizes, got {brief_shape(target.tolist())}")
    out_c, _, _, in_c = w.shape
    if in_c != x.shape[3] or target[3] != out_c or target[0] != x.shape[0]:
        raise ShapeError(f"filter '{w.name}' {w.shape}, input '{x.name}' {x.shape} and output shape "
                         f"{brief_shape(target.tolist())} disagree on batches or channels")
    if len(inputs) > 3 and inputs[3] is not None and inputs[3].shape != (out_c,):
        raise ShapeError(f"bias '{inputs[3].name}' has shape {inputs[3].shape}, expected ({out_c},)")
    return tuple(int(d) for d in target)


def transpose_conv_padding(output_size: int, filter_size: int, stride: int, padding: str) -> int:
    """TRANSPOSE_CONV's padding before the data along one axis: TFLite's ComputePaddingHeightWidth
    called with the transposed convolution's output size (the size of the forward convolution's input)."""
    forward = conv_output_size(output_size, filter_size, stride, 1, padding)
    return padding_before(output_size, filter_size, stride, 1, forward)[0]


def lstm_shape(op: Op, inputs: list) -> tuple[int, ...]:
    """UNIDIRECTIONAL_SEQUENCE_LSTM: input [batch, time, input_size] ([time, batch, ...] time major),
    input weights [units, input_size], recurrent weights [units, units], biases [units], hidden and
    cell state of batch x units values -> [batch, time, units] (time major: [time, batch, units])."""
    x = inputs[0]
    _require_rank(x, 3, "input")
    units = inputs[5].shape[0]
    batch = x.shape[1] if op.attrs.time_major else x.shape[0]
    expected_shapes = {**{slot: (units, x.shape[2]) for slot in (1, 2, 3, 4)},
                       **{slot: (units, units) for slot in (5, 6, 7, 8)},
                       **{slot: (units,) for slot in (12, 13, 14, 15)}}
    for slot, expected in expected_shapes.items():
        if inputs[slot].shape != expected:
            raise ShapeError(f"input {slot} '{inputs[slot].name}' has shape {inputs[slot].shape}, expected {expected}")
    for slot, role in ((18, "hidden state"), (19, "cell state")):
        if inputs[slot].size != batch * units:
            raise ShapeError(f"{role} '{inputs[slot].name}' has shape {inputs[slot].shape}, "
                             f"expected {batch * units} values")
    return (x.shape[0], x.shape[1], units)
