"""Float <-> int8 conversion at the graph edges, exact to TFLite Micro's QUANTIZE / DEQUANTIZE."""

from __future__ import annotations

import numpy as np

from pqk_mcu.quant.fixed_point import INT8_MAX, INT8_MIN, INT32_MIN


def round_half_away_from_zero_f32(values: np.ndarray) -> np.ndarray:
    """``roundf`` on float32 values, returned as float64 (exact: every float32 fits)."""
    wide = np.asarray(values, dtype=np.float32).astype(np.float64)
    # Adding 0.5 in double is exact for |x| < 2^29; larger float32 values are integers already.
    return np.where(np.abs(wide) >= 2.0**29, wide, np.copysign(np.floor(np.abs(wide) + 0.5), wide))


def float_to_int32_x86(values: np.ndarray) -> np.ndarray:
    """``static_cast<int32_t>`` of a float: out-of-range and NaN give INT32_MIN (x86 ``cvttss2si``)."""
    wide = np.asarray(values, dtype=np.float64)
    in_range = np.isfinite(wide) & (wide > -(2.0**31) - 1) & (wide < 2.0**31)
    return np.where(in_range, np.trunc(np.where(in_range, wide, 0.0)), INT32_MIN).astype(np.int64)


def affine_quantize_array(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """float32 -> int8 (``AffineQuantize``): ``round(x / scale)`` in float32, + zero point, clamp."""
    quotient = np.asarray(values, dtype=np.float32) / np.float32(scale)
    unclamped = float_to_int32_x86(round_half_away_from_zero_f32(quotient)) + int(zero_point)
    # The C++ adds in int32; a wrapped sum can only arise from INT32_MIN, which clamps to -128 anyway.
    return np.clip(unclamped, INT8_MIN, INT8_MAX).astype(np.int8)


def dequantize_array(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """int8 or int16 -> float32 (``Dequantize``): one float32 rounding of ``scale * (q - zero_point)``."""
    centered = np.asarray(values, dtype=np.int64) - int(zero_point)
    # scale (24-bit significand) times a 9-bit (int8) or 17-bit (int16) integer is exact in double:
    # rounding once to float32 equals TFLM's product, computed in double and cast.
    return (float(scale) * centered.astype(np.float64)).astype(np.float32)
