"""AVERAGE_POOL_2D and MAX_POOL_2D, exact to TFLM's int8 reference kernels.

Both work on raw int8 values (input and output share quantization). The window is clipped to the
input: padding never enters a max or an average, and the average divides by the number of
in-bounds taps, rounding half away from zero with C integer division.
"""

from __future__ import annotations

import numpy as np

from pqk_mcu.ir.shapes import conv_output_size, padding_before
from pqk_mcu.quant import activation_range
from pqk_mcu.reference.registry import KernelCall, kernel, scale_and_zero_point


def _windows(call: KernelCall, fill: int):
    """Yield, per filter tap, the input samples it meets ([N, OH, OW, C]) and an in-bounds mask."""
    a = call.attrs
    x = call.values[0].astype(np.int64)
    n, in_h, in_w, c = x.shape
    out_h = conv_output_size(in_h, a.filter_h, a.stride_h, 1, a.padding)
    out_w = conv_output_size(in_w, a.filter_w, a.stride_w, 1, a.padding)
    pad_top, _ = padding_before(in_h, a.filter_h, a.stride_h, 1, out_h)
    pad_left, _ = padding_before(in_w, a.filter_w, a.stride_w, 1, out_w)
    rows = np.arange(out_h) * a.stride_h - pad_top
    cols = np.arange(out_w) * a.stride_w - pad_left
    for ky in range(a.filter_h):
        y = rows + ky
        y_ok = (y >= 0) & (y < in_h)
        for kx in range(a.filter_w):
            xs = cols + kx
            x_ok = (xs >= 0) & (xs < in_w)
            taken = x[:, np.clip(y, 0, in_h - 1)][:, :, np.clip(xs, 0, in_w - 1)]
            inside = (y_ok[:, None] & x_ok[None, :])[None, :, :, None]
            yield np.where(inside, taken, fill), inside


def _clamp(call: KernelCall, values: np.ndarray) -> np.ndarray:
    scale, zero_point = scale_and_zero_point(call.output)
    low, high = activation_range(call.attrs.activation, scale, zero_point)
    return np.clip(values, low, high).astype(np.int8)


@kernel("AVERAGE_POOL_2D")
def average_pool_2d(call: KernelCall) -> list[np.ndarray]:
    total = 0
    count = 0
    for samples, inside in _windows(call, fill=0):
        total = total + samples
        count = count + inside.astype(np.int64)
    half = count // 2
    # C++: acc > 0 ? (acc + n/2) / n : (acc - n/2) / n, with division truncating toward zero.
    average = np.where(total > 0, (total + half) // count, -((half - total) // count))
    return [_clamp(call, average)]


@kernel("MAX_POOL_2D")
def max_pool_2d(call: KernelCall) -> list[np.ndarray]:
    result = None
    for samples, _ in _windows(call, fill=-128):
        result = samples if result is None else np.maximum(result, samples)
    return [_clamp(call, result)]
