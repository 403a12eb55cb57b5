"""TRANSPOSE_CONV, exact to TFLite Micro's int8 and 16x8 kernels (``reference_integer_ops::TransposeConv``).

Every input pixel scatters ``(input - input_zero_point) x filter`` onto the output window it
touches (origin ``in * stride - padding``; TFLite's padding of a convolution from the output size
back to the input size); the int32 sums plus the bias are requantized per output channel (the
double-precision multipliers of ``PopulateConvolutionQuantizationParams``), offset by the output
zero point and clamped to the fused activation's range. The 16x8 form (int16 input and output)
sums in int64 with an int64 bias and requantizes with the 64-bit ``MultiplyByQuantizedMultiplier``.
"""

from __future__ import annotations

import numpy as np

from pqk_mcu.ir.shapes import transpose_conv_padding
from pqk_mcu.quant import (
    activation_range,
    conv_multipliers,
    multiply_by_quantized_multiplier_array,
    multiply_by_quantized_multiplier_int64_array,
)
from pqk_mcu.quant.fixed_point import wrap_int32
from pqk_mcu.reference.registry import KernelCall, kernel, scale_and_zero_point


@kernel("TRANSPOSE_CONV")
def transpose_conv(call: KernelCall) -> list[np.ndarray]:
    a = call.attrs
    w_tensor, x_tensor = call.inputs[1], call.inputs[2]
    w, x = call.values[1].astype(np.int64), call.values[2].astype(np.int64)
    bias = call.values[3] if len(call.values) > 3 else None
    in_scale, in_zp = scale_and_zero_point(x_tensor)
    out_scale, out_zp = scale_and_zero_point(call.output)
    n, out_h, out_w, out_c = call.output.shape
    _, k_h, k_w, _ = w.shape
    _, in_h, in_w, _ = x.shape
    pad_h = transpose_conv_padding(out_h, k_h, a.stride_h, a.padding)
    pad_w = transpose_conv_padding(out_w, k_w, a.stride_w, a.padding)
    centered = x - in_zp
    acc = np.zeros((n, out_h, out_w, out_c), dtype=np.int64)
    for fy in range(k_h):
        rows = np.arange(in_h) * a.stride_h - pad_h + fy
        row_ok = (rows >= 0) & (rows < out_h)
        for fx in range(k_w):
            cols = np.arange(in_w) * a.stride_w - pad_w + fx
            col_ok = (cols >= 0) & (cols < out_w)
            contribution = centered[:, row_ok][:, :, col_ok] @ w[:, fy, fx, :].T
            # Distinct input pixels land on distinct output pixels for one filter tap.
            acc[:, rows[row_ok][:, None], cols[col_ok][None, :], :] += contribution
    scales = list(w_tensor.quant.scale) if w_tensor.quant.per_channel else [w_tensor.quant.scale[0]] * out_c
    multiplier, shift = conv_multipliers(in_scale, scales, out_scale)
    if x_tensor.dtype == "int16":
        if bias is not None:
            acc = acc + bias.astype(np.int64)
        scaled = multiply_by_quantized_multiplier_int64_array(acc, multiplier, shift) + out_zp
        low, high = activation_range(a.activation, out_scale, out_zp, "int16")
        return [np.clip(scaled, low, high).astype(np.int16)]
    acc = wrap_int32(acc)
    if bias is not None:
        acc = wrap_int32(acc + bias.astype(np.int64))
    scaled = multiply_by_quantized_multiplier_array(acc, multiplier, shift).astype(np.int64) + out_zp
    low, high = activation_range(a.activation, out_scale, out_zp)
    return [np.clip(scaled, low, high).astype(np.int8)]
