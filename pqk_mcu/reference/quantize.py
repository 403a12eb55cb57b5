"""QUANTIZE (float32 -> int8; int8, int16 or int32 -> int8, int16 or int32) and DEQUANTIZE (int8 or int16 ->
float32)."""

from __future__ import annotations

import numpy as np

from pqk_mcu.quant import (
    affine_quantize_array,
    dequantize_array,
    multiply_by_quantized_multiplier_array,
    requantize_multiplier,
    wrap_int32,
)
from pqk_mcu.reference.registry import KernelCall, kernel, scale_and_zero_point


@kernel("QUANTIZE")
def quantize(call: KernelCall) -> list[np.ndarray]:
    out_scale, out_zp = scale_and_zero_point(call.output)
    x = call.values[0]
    if call.inputs[0].dtype == "float32":
        return [affine_quantize_array(x, out_scale, out_zp)]
    # Requantization (TFLM ``Requantize``): int8, int16 or int32 in, int8 or int16 out, in int32 arithmetic.
    in_scale, in_zp = scale_and_zero_point(call.inputs[0])
    multiplier, shift = requantize_multiplier(in_scale, out_scale)
    scaled = multiply_by_quantized_multiplier_array(wrap_int32(x.astype(np.int64) - in_zp), multiplier, shift)
    limits = np.iinfo(call.output.dtype)
    return [np.clip(wrap_int32(scaled + out_zp), limits.min, limits.max).astype(call.output.dtype)]


@kernel("DEQUANTIZE")
def dequantize(call: KernelCall) -> list[np.ndarray]:
    return [dequantize_array(call.values[0], *scale_and_zero_point(call.inputs[0]))]
