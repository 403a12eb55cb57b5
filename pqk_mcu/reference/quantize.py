"""QUANTIZE (float32 -> int8 and int8 -> int8) and DEQUANTIZE (int8 -> float32)."""

from __future__ import annotations

import numpy as np

from pqk_mcu.quant import (
    INT8_MAX,
    INT8_MIN,
    affine_quantize_array,
    dequantize_array,
    multiply_by_quantized_multiplier_array,
    requantize_multiplier,
)
from pqk_mcu.reference.registry import KernelCall, kernel, scale_and_zero_point


@kernel("QUANTIZE")
def quantize(call: KernelCall) -> list[np.ndarray]:
    out_scale, out_zp = scale_and_zero_point(call.output)
    x = call.values[0]
    if call.inputs[0].dtype == "float32":
        return [affine_quantize_array(x, out_scale, out_zp)]
    # int8 -> int8 requantization (TFLM ``Requantize``).
    in_scale, in_zp = scale_and_zero_point(call.inputs[0])
    multiplier, shift = requantize_multiplier(in_scale, out_scale)
    scaled = multiply_by_quantized_multiplier_array(x.astype(np.int64) - in_zp, multiplier, shift)
    return [np.clip(scaled.astype(np.int64) + out_zp, INT8_MIN, INT8_MAX).astype(np.int8)]


@kernel("DEQUANTIZE")
def dequantize(call: KernelCall) -> list[np.ndarray]:
    return [dequantize_array(call.values[0], *scale_and_zero_point(call.inputs[0]))]
