"""CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED, exact to TFLM's int8 reference kernels and to their
16x8 ones (int16 input, int64 bias and accumulators).

Accumulation: ``sum(filter * (input - input_zero_point)) + bias`` in int32, then the per-channel
``MultiplyByQuantizedMultiplier``, the output zero point and the fused-activation clamp
(``ConvPerChannel`` / ``DepthwiseConvPerChannel`` / ``FullyConnected[PerChannel]``). Padded
positions contribute nothing, which equals padding ``input - zero_point`` with zeros. Like TFLM,
convolutions ignore the filter zero point (weights are symmetric); FULLY_CONNECTED subtracts it.

Products are summed with float64 matrix products: every partial sum of int8 x (int8 - zp) terms
stays far below 2^53 for any layer that fits a microcontroller, so the sums are exact integers.
"""

from __future__ import annotations

import numpy as np

from pqk_mcu.ir.shapes import conv_output_size, padding_before
from pqk_mcu.quant import (
    activation_range,
    conv_multipliers,
    fully_connected_multiplier,
    multiply_by_quantized_multiplier_array,
    multiply_by_quantized_multiplier_int64_array,
)
from pqk_mcu.quant.fixed_point import wrap_int32
from pqk_mcu.reference.registry import KernelCall, kernel, scale_and_zero_point


def _filter_scales(filter_tensor, channels: int) -> list[float]:
    scales = filter_tensor.quant.scale
    return list(scales) if len(scales) > 1 else [scales[0]] * channels


def _requantize_accumulators(acc: np.ndarray, call: KernelCall, multiplier, shift) -> np.ndarray:
    """int32 accumulators (+ bias) -> int8 output, channels on the last axis; int16 inputs (16x8) keep
    int64 accumulators and an int64 bias, as TFLM's ``ConvPerChannel<int64_t>``."""
    if call.inputs[0].dtype == "int16":
        return _requantize_wide_accumulators(acc, call, multiplier, shift)
    acc = wrap_int32(acc)
    if len(call.values) > 2 and call.values[2] is not None:
        acc = wrap_int32(acc + call.values[2].astype(np.int64))
    out_scale, out_zp = scale_and_zero_point(call.output)
    low, high = activation_range(call.attrs.activation, out_scale, out_zp)
    scaled = multiply_by_quantized_multiplier_array(acc, multiplier, shift).astype(np.int64) + out_zp
    return np.clip(scaled, low, high).astype(np.int8)


def _requantize_wide_accumulators(acc: np.ndarray, call: KernelCall, multiplier, shift) -> np.ndarray:
    if len(call.values) > 2 and call.values[2] is not None:
        acc = acc + call.values[2].astype(np.int64)
    out_scale, out_zp = scale_and_zero_point(call.output)
    low, high = activation_range(call.attrs.activation, out_scale, out_zp, "int16")
    scaled = multiply_by_quantized_multiplier_int64_array(acc, multiplier, shift) + out_zp
    return np.clip(scaled, low, high).astype(np.int16)


def _requantize_filter_channels(acc: np.ndarray, call: KernelCall, channels: int) -> np.ndarray:
    """CONV_2D / DEPTHWISE_CONV_2D accumulators -> int8, with one multiplier per output channel."""
    in_scale, _ = scale_and_zero_point(call.inputs[0])
    out_scale, _ = scale_and_zero_point(call.output)
    multiplier, shift = conv_multipliers(in_scale, _filter_scales(call.inputs[1], channels), out_scale)
    return _requantize_accumulators(acc.astype(np.int64), call, multiplier, shift)


def _padded_centered_input(call: KernelCall, k_h: int, k_w: int) -> tuple[np.ndarray, int, int]:
    """``input - zero_point`` padded with zeros the TFLite way, plus the output height and width."""
    a = call.attrs
    x = call.values[0].astype(np.float64) - scale_and_zero_point(call.inputs[0])[1]
    _, in_h, in_w, _ = x.shape
    out_h = conv_output_size(in_h, k_h, a.stride_h, a.dilation_h, a.padding)
    out_w = conv_output_size(in_w, k_w, a.stride_w, a.dilation_w, a.padding)
    pad_top, extra_h = padding_before(in_h, k_h, a.stride_h, a.dilation_h, out_h)
    pad_left, extra_w = padding_before(in_w, k_w, a.stride_w, a.dilation_w, out_w)
    x = np.pad(x, ((0, 0), (pad_top, pad_top + extra_h), (pad_left, pad_left + extra_w), (0, 0)))
    return x, out_h, out_w


def _window(x: np.ndarray, call: KernelCall, ky: int, kx: int, out_h: int, out_w: int) -> np.ndarray:
    """Input samples that filter tap (ky, kx) meets at every output position: [N, OH, OW, C]."""
    a = call.attrs
    y0, x0 = ky * a.dilation_h, kx * a.dilation_w
    rows = slice(y0, y0 + (out_h - 1) * a.stride_h + 1, a.stride_h)
    cols = slice(x0, x0 + (out_w - 1) * a.stride_w + 1, a.stride_w)
    return x[:, rows, cols, :]


@kernel("CONV_2D")
def conv_2d(call: KernelCall) -> list[np.ndarray]:
    filters = call.values[1]
    out_c, k_h, k_w, in_c = filters.shape
    x, out_h, out_w = _padded_centered_input(call, k_h, k_w)
    # im2col: [N, OH, OW, KH*KW*C] against filters flattened to [KH*KW*C, O] (OHWI order).
    columns = np.concatenate(
        [_window(x, call, ky, kx, out_h, out_w) for ky in range(k_h) for kx in range(k_w)], axis=-1
    )
    acc = columns @ filters.reshape(out_c, -1).astype(np.float64).T
    return [_requantize_filter_channels(acc, call, out_c)]


@kernel("DEPTHWISE_CONV_2D")
def depthwise_conv_2d(call: KernelCall) -> list[np.ndarray]:
    filters = call.values[1].astype(np.float64)
    _, k_h, k_w, out_c = filters.shape
    x, out_h, out_w = _padded_centered_input(call, k_h, k_w)
    # Output channel c * multiplier + m reads input channel c.
    x = np.repeat(x, call.attrs.depth_multiplier, axis=-1)
    acc = np.zeros((x.shape[0], out_h, out_w, out_c), dtype=np.float64)
    for ky in range(k_h):
        for kx in range(k_w):
            acc += _window(x, call, ky, kx, out_h, out_w) * filters[0, ky, kx]
    return [_requantize_filter_channels(acc, call, out_c)]


@kernel("FULLY_CONNECTED")
def fully_connected(call: KernelCall) -> list[np.ndarray]:
    weights_tensor = call.inputs[1]
    out_c, in_c = weights_tensor.shape
    in_scale, in_zp = scale_and_zero_point(call.inputs[0])
    out_scale, _ = scale_and_zero_point(call.output)
    rows = call.values[0].reshape(-1, in_c).astype(np.float64) - in_zp
    weights = call.values[1].astype(np.float64)
    if weights_tensor.quant.per_channel:
        multiplier, shift = conv_multipliers(in_scale, weights_tensor.quant.scale, out_scale)
    else:
        weights = weights - weights_tensor.quant.zero_point[0]
        multiplier, shift = fully_connected_multiplier(in_scale, weights_tensor.quant.scale[0], out_scale)
    acc = rows @ weights.T
    out = _requantize_accumulators(acc.astype(np.int64), call, multiplier, shift)
    return [out.reshape(call.output.shape)]
