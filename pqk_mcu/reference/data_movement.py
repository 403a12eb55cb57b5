"""RESHAPE, SQUEEZE, PAD, CONCATENATION, PACK, TRANSPOSE, STRIDED_SLICE and RESIZE_NEAREST_NEIGHBOR: int8 values move unchanged (input and output
share quantization)."""

from __future__ import annotations

import numpy as np

from pqk_mcu.ir.shapes import nearest_source_indices, strided_slice_axes, transpose_permutation
from pqk_mcu.quant import activation_range
from pqk_mcu.reference.registry import KernelCall, kernel, scale_and_zero_point


@kernel("RESHAPE", "SQUEEZE")
def reshape(call: KernelCall) -> list[np.ndarray]:
    return [call.values[0].reshape(call.output.shape).copy()]


@kernel("PAD")
def pad(call: KernelCall) -> list[np.ndarray]:
    """Pads with the output zero point (the quantized 0.0), as TFLM does without a constant value."""
    paddings = call.values[1].astype(np.int64)
    _, zero_point = scale_and_zero_point(call.output)
    return [np.pad(call.values[0], [tuple(p) for p in paddings.tolist()], constant_values=zero_point)]


@kernel("CONCATENATION")
def concatenation(call: KernelCall) -> list[np.ndarray]:
    """TFLM's int8 kernel copies bytes: every input shares the output's quantization (the verifier
    checks it), so values move unchanged."""
    values = np.concatenate(call.values, axis=call.attrs.axis)
    scale, zero_point = scale_and_zero_point(call.output)
    low, high = activation_range(call.attrs.activation, scale, zero_point)
    return [np.clip(values, low, high).astype(np.int8)]


@kernel("PACK")
def pack(call: KernelCall) -> list[np.ndarray]:
    return [np.stack(call.values, axis=call.attrs.axis)]


@kernel("TRANSPOSE")
def transpose(call: KernelCall) -> list[np.ndarray]:
    return [np.ascontiguousarray(np.transpose(call.values[0], transpose_permutation(call.op, call.inputs)))]


@kernel("STRIDED_SLICE")
def strided_slice(call: KernelCall) -> list[np.ndarray]:
    index = tuple(slice(start, start + count * stride if start + count * stride >= 0 else None, stride)
                  for start, count, stride in strided_slice_axes(call.op, call.inputs))
    return [call.values[0][index].reshape(call.output.shape).copy()]


@kernel("RESIZE_NEAREST_NEIGHBOR")
def resize_nearest_neighbor(call: KernelCall) -> list[np.ndarray]:
    (_, in_h, in_w, _), (_, out_h, out_w, _) = call.inputs[0].shape, call.output.shape
    a = call.attrs
    rows = nearest_source_indices(in_h, out_h, a.align_corners, a.half_pixel_centers)
    columns = nearest_source_indices(in_w, out_w, a.align_corners, a.half_pixel_centers)
    return [call.values[0][:, rows][:, :, columns].copy()]
