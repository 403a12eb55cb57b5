"""MEAN (int8), exact to TFLM's reference kernel."""

from __future__ import annotations

import numpy as np

from pqk_mcu.ir.shapes import normalized_axes
from pqk_mcu.quant import INT8_MAX, INT8_MIN, mean_multiplier, multiply_by_quantized_multiplier_array
from pqk_mcu.reference.registry import KernelCall, kernel, scale_and_zero_point


@kernel("MEAN")
def mean(call: KernelCall) -> list[np.ndarray]:
    x = call.values[0].astype(np.int64)
    axes = normalized_axes(call.values[1].astype(np.int64), x.ndim)
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    total = x.sum(axis=axes)
    in_scale, in_zp = scale_and_zero_point(call.inputs[0])
    out_scale, out_zp = scale_and_zero_point(call.output)
    multiplier, shift = mean_multiplier(in_scale, out_scale, count)
    scaled = multiply_by_quantized_multiplier_array(total - in_zp * count, multiplier, shift)
    values = np.clip(scaled.astype(np.int64) + out_zp, INT8_MIN, INT8_MAX)
    return [values.astype(np.int8).reshape(call.output.shape)]
