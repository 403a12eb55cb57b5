"""Fixed-point arithmetic exact to TensorFlow Lite Micro's reference kernels.

This module is the one place in pqk-mcu where requantization rounding lives. Training (fake
quantization), compiler passes, the reference interpreter and the C code generator all import it.

Each function has a scalar form on plain Python ints (a line-for-line transliteration of the C++,
used as the specification in tests) and, where it runs on tensors, a vectorized numpy form.
The C runtime's ``pqk_requantize`` (firmware/runtime/pqk_requantize.h) mirrors
``multiply_by_quantized_multiplier`` line for line; the DSP kernels' ``pqk_fast_requantize``
(firmware/runtime/pqk_dsp.h) mirrors ``fast_requantize``, the Helium kernels' ``pqk_mve_requantize``
(firmware/runtime/pqk_mve.h) ``mve_requantize_array``.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
INT8_MIN = -128
INT8_MAX = 127
INT16_MIN = -(1 << 15)
INT16_MAX = (1 << 15) - 1


def tflite_round(value: float) -> int:
    """``std::round``: halves away from zero (Python's ``round`` rounds halves to even)."""
    magnitude = abs(value)
    floor = math.floor(magnitude)
    rounded = floor + 1 if magnitude - floor >= 0.5 else floor
    return int(-rounded if value < 0 else rounded)


def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier``: real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31).

    Returns ``(quantized_multiplier, shift)``; shift > 0 is a left shift.
    """
    if real_multiplier == 0.0:
        return 0, 0
    significand, shift = math.frexp(real_multiplier)
    q_fixed = tflite_round(significand * (1 << 31))
    if q_fixed > (1 << 31):
        raise ValueError(f"multiplier {real_multiplier!r} cannot be quantized")
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    # A shift smaller than -31 would shift every bit out.
    if shift < -31:
        shift = 0
        q_fixed = 0
    return int(q_fixed), int(shift)


def saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` on int32 values."""
    overflow = a == b and a == INT32_MIN
    ab_64 = a * b
    nudge = (1 << 30) if ab_64 >= 0 else (1 - (1 << 30))
    numerator = ab_64 + nudge
    # C++ integer division truncates toward zero.
    high = abs(numerator) // (1 << 31)
    high = high if numerator >= 0 else -high
    return INT32_MAX if overflow else wrap_int32(high)


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    """gemmlowp ``RoundingDivideByPOT``: x / 2^exponent, ties away from zero."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def multiply_by_quantized_multiplier(x: int, quantized_multiplier: int, shift: int) -> int:
    """TFLite ``MultiplyByQuantizedMultiplier`` (int32 x, default double rounding)."""
    left_shift = shift if shift > 0 else 0
    right_shift = 0 if shift > 0 else -shift
    return rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(wrap_int32(x * (1 << left_shift)), quantized_multiplier),
        right_shift,
    )


def wrap_int32(value):
    """Two's-complement int32 wrap-around (what C int32 arithmetic does): of a Python int an int, of
    values an int64 array."""
    if isinstance(value, int):
        return ((value + (1 << 31)) % (1 << 32)) - (1 << 31)
    values = np.asarray(value, dtype=np.int64)
    return ((values + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def fast_requantize(acc: int, quantized_multiplier: int, shift: int, zero_point: int,
                    negatives_clamped: bool = False) -> int:
    """``pqk_fast_requantize`` of firmware/runtime/pqk_dsp.h: requantize + zero point, saturated to int8.

    SSAT8(SMMLAR(2 * acc, multiplier, offset + (acc >> 31)) >> e) with e = -shift and offset
    2^(e-1) + zero_point * 2^e; equal to ``multiply_by_quantized_multiplier`` + zero point, saturated,
    for |acc| < 2^30, shift in [-23, -1] and multiplier 0 or in [2^30, 2^31).
    ``negatives_clamped`` (``PQK_FAST_NEGATIVES_CLAMPED``) drops the ``acc >> 31`` term: the result
    then differs only for acc < 0, where both are <= zero_point, so it is exact once clamped to an
    activation minimum >= zero_point.
    """
    e = -shift
    offset = (1 << (e - 1)) + zero_point * (1 << e)
    if not negatives_clamped:
        offset += acc >> 31
    high = wrap_int32(((offset << 32) + 2 * acc * quantized_multiplier + (1 << 31)) >> 32)  # SMMLAR
    return min(max(high >> e, INT8_MIN), INT8_MAX)  # SSAT #8


def fast_requantize_array(acc: np.ndarray, quantized_multiplier: np.ndarray | int, shift: np.ndarray | int,
                          zero_point: np.ndarray | int, negatives_clamped: bool = False) -> np.ndarray:
    """Vectorized ``fast_requantize`` (int8 results); offset * 2^32 is split off the 64-bit sum."""
    acc64 = np.asarray(acc, dtype=np.int64)
    e = -np.asarray(shift, dtype=np.int64)
    offset = (np.int64(1) << (e - 1)) + np.asarray(zero_point, dtype=np.int64) * (np.int64(1) << e)
    if not negatives_clamped:
        offset = offset + (acc64 >> 31)
    high = offset + ((2 * acc64 * np.asarray(quantized_multiplier, dtype=np.int64) + (1 << 31)) >> 32)
    return np.clip(high >> e, INT8_MIN, INT8_MAX).astype(np.int8)


def mve_requantize_array(acc: np.ndarray, quantized_multiplier: np.ndarray | int, shift: np.ndarray | int,
                         zero_point: int, activation_min: int, activation_max: int,
                         negatives_clamped: bool = False) -> np.ndarray:
    """``pqk_mve_requantize`` of firmware/runtime/pqk_mve.h, instruction by instruction on int32 lanes:
    VSHL by max(shift, 0) (wrapping), VQRDMULH, + ((r AND -e) >> 31) (the sign term, dropped under
    ``negatives_clamped``), VRSHL by -e, + zero point, VMAX, VMIN; e = max(-shift, 0). Equal to
    ``multiply_by_quantized_multiplier`` + zero point, clamped, for every int32 accumulator, multiplier in
    [0, 2^31) and shift in [-31, 31]; under ``negatives_clamped`` where activation_min >= zero_point."""
    acc64 = np.asarray(acc, dtype=np.int64)
    shift64 = np.asarray(shift, dtype=np.int64)
    right = np.minimum(shift64, 0)  # -e
    shifted = (((acc64 << np.maximum(shift64, 0)) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)  # wraps like VSHL
    r = np.minimum((2 * shifted * np.asarray(quantized_multiplier, dtype=np.int64) + (1 << 31)) >> 32, INT32_MAX)
    if not negatives_clamped:
        r = r + ((r & right) >> 31)  # -1 for r < 0 when e >= 1 (right's sign bit is set)
    rounding = np.where(right < 0, np.int64(1) << np.maximum(-right - 1, 0), 0)
    r = (r + rounding) >> -right  # VRSHL: (r + 2^(e-1)) >> e without overflow
    return np.clip(r + zero_point, activation_min, activation_max).astype(np.int8)


# --------------------------------------------------------------------------------------------
# Vectorized numpy forms (int64 arithmetic, results as int32 arrays).


def srdhm_array(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """Vectorized ``saturating_rounding_doubling_high_mul``."""
    a64 = np.asarray(a, dtype=np.int64)
    b64 = np.asarray(b, dtype=np.int64)
    overflow = (a64 == b64) & (a64 == INT32_MIN)
    ab_64 = a64 * b64
    numerator = ab_64 + np.where(ab_64 >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(numerator >= 0, numerator >> 31, -((-numerator) >> 31))
    high = ((high + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
    return np.where(overflow, INT32_MAX, high).astype(np.int32)


def rounding_divide_by_pot_array(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """Vectorized ``rounding_divide_by_pot`` (exponent may vary per element)."""
    x64 = np.asarray(x, dtype=np.int64)
    exponent64 = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent64) - 1
    remainder = x64 & mask
    threshold = (mask >> 1) + (x64 < 0)
    return ((x64 >> exponent64) + (remainder > threshold)).astype(np.int32)


def multiply_by_quantized_multiplier_array(
    x: np.ndarray, quantized_multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """Vectorized ``multiply_by_quantized_multiplier``; multiplier and shift broadcast (per channel)."""
    shift64 = np.asarray(shift, dtype=np.int64)
    left_shift = np.where(shift64 > 0, shift64, 0)
    right_shift = np.where(shift64 > 0, 0, -shift64)
    shifted = np.asarray(x, dtype=np.int64) << left_shift
    shifted = ((shifted + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
    return rounding_divide_by_pot_array(srdhm_array(shifted, quantized_multiplier), right_shift)


def multiply_by_quantized_multiplier_int64_array(
    x: np.ndarray, quantized_multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """TFLite ``MultiplyByQuantizedMultiplier(int64_t x, ...)`` of the 16x8 kernels' 64-bit accumulators
    (|x| < 2^47): the multiplier rounded to 16 bits, one rounding shift, the result narrowed to int32."""
    multiplier = np.asarray(quantized_multiplier, dtype=np.int64)
    reduced = np.where(multiplier < 0x7FFF0000, (multiplier + (1 << 15)) >> 16, 0x7FFF)
    total_shift = 15 - np.asarray(shift, dtype=np.int64)
    result = (np.asarray(x, dtype=np.int64) * reduced + (np.int64(1) << (total_shift - 1))) >> total_shift
    return wrap_int32(result)


# --------------------------------------------------------------------------------------------
# Scale bookkeeping done the way TFLite's Prepare functions do it.


def conv_effective_scales(input_scale: float, filter_scales, output_scale: float) -> list[float]:
    """``PopulateConvolutionQuantizationParams``: per channel, in double, input*filter/output."""
    return [float(input_scale) * float(fs) / float(output_scale) for fs in filter_scales]


def conv_multipliers(input_scale: float, filter_scales, output_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(multiplier int32[], shift int32[])`` for CONV_2D / DEPTHWISE_CONV_2D."""
    pairs = [quantize_multiplier(s) for s in conv_effective_scales(input_scale, filter_scales, output_scale)]
    return (np.array([m for m, _ in pairs], dtype=np.int32), np.array([s for _, s in pairs], dtype=np.int32))


def activation_range(activation: str, scale: float, zero_point: int, dtype: str = "int8") -> tuple[int, int]:
    """``CalculateActivationRangeQuantized`` for int8 (or int16) outputs.

    ``f / scale`` is evaluated in float32 and rounded like ``TfLiteRound`` on a float.
    """

    def quantize(real: float) -> int:
        return int(zero_point) + tflite_round(float(np.float32(real) / np.float32(scale)))

    low, high = (INT16_MIN, INT16_MAX) if dtype == "int16" else (INT8_MIN, INT8_MAX)
    if activation == "NONE":
        return low, high
    if activation == "RELU":
        return max(low, quantize(0.0)), high
    if activation == "RELU6":
        return max(low, quantize(0.0)), min(high, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(low, quantize(-1.0)), min(high, quantize(1.0))
    raise ValueError(f"unknown fused activation {activation!r}")
