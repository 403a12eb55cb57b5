"""gemmlowp fixed-point transcendental functions, vectorized, exact to ``fixedpoint/fixedpoint.h``.

TensorFlow Lite Micro's int8 SOFTMAX, LOGISTIC and TANH reference kernels evaluate ``exp``,
``1 / (1 + x)``, ``logistic`` and ``tanh`` in gemmlowp's ``FixedPoint<int32_t, IntegerBits>``
arithmetic. The functions here take and return raw int32 values held in int64 numpy arrays and
reproduce gemmlowp bit for bit, including int32 wrap-around of plain additions and the
saturation of ``SaturatingRoundingMultiplyByPOT``.

Naming: ``integer_bits`` is gemmlowp's ``tIntegerBits``; a raw value ``r`` of a format with
``m`` integer bits represents ``r / 2^(31 - m)``.
"""

from __future__ import annotations

import numpy as np

from pqk_mcu.quant.fixed_point import INT32_MAX, INT32_MIN, rounding_divide_by_pot_array, srdhm_array, wrap_int32

# Raw constants from gemmlowp (GEMMLOWP_CHECKED_FIXEDPOINT_CONSTANT arguments).
EXP_MINUS_ONE_EIGHTH = 1895147668  # exp(-1/8) in Q0.31
ONE_THIRD = 715827883  # 1/3 in Q0.31
FORTY_EIGHT_OVER_SEVENTEEN = 1515870810  # 48/17 in Q2.29
MINUS_THIRTY_TWO_OVER_SEVENTEEN = -1010580540  # -32/17 in Q2.29
# exp(-2^k) in Q0.31 for the barrel shifter of exp_on_negative_values, k = -2 .. 4.
EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401), (4, 242))


def _mul(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """FixedPoint ``operator*``: ``SaturatingRoundingDoublingHighMul`` of the raw values."""
    return srdhm_array(a, b).astype(np.int64)


def saturating_rounding_multiply_by_pot(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingMultiplyByPOT<exponent>`` on raw int32 values."""
    x = np.asarray(x, dtype=np.int64)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot_array(x, -exponent).astype(np.int64)
    threshold = (1 << (31 - exponent)) - 1
    shifted = wrap_int32(x << exponent)
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, shifted))


def rescale(x: np.ndarray, src_integer_bits: int, dst_integer_bits: int) -> np.ndarray:
    """gemmlowp ``Rescale<dst>`` of a ``FixedPoint<int32_t, src>``."""
    return saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)


def rounding_half_sum(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp ``RoundingHalfSum`` for int32: ``(a + b + sign) / 2`` with C truncation."""
    total = np.asarray(a, dtype=np.int64) + np.asarray(b, dtype=np.int64)
    numerator = total + np.where(total >= 0, 1, -1)
    # C++ integer division truncates toward zero.
    return np.where(numerator >= 0, numerator // 2, -((-numerator) // 2))


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: np.ndarray) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out (Taylor series around -1/8)."""
    x = wrap_int32(np.asarray(a, dtype=np.int64) + (1 << 28))
    x2 = _mul(x, x)
    x3 = _mul(x2, x)
    x4 = _mul(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    polynomial = saturating_rounding_multiply_by_pot(
        wrap_int32(_mul(wrap_int32(x4_over_4 + x3), ONE_THIRD) + x2), -1
    )
    return wrap_int32(EXP_MINUS_ONE_EIGHTH + _mul(EXP_MINUS_ONE_EIGHTH, wrap_int32(x + polynomial)))


def exp_on_negative_values(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """gemmlowp ``exp_on_negative_values``: Q(integer_bits) in (a <= 0), Q0.31 out."""
    a = np.asarray(a, dtype=np.int64)
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = wrap_int32((a & (one_quarter - 1)) - one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0)
    )
    remainder = wrap_int32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in EXP_BARREL:
        if integer_bits > exponent:
            bit = np.int64(1) << (fractional_bits + exponent)
            result = np.where((remainder & bit) != 0, _mul(result, multiplier), result)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, INT32_MAX, result)


def _newton_raphson_reciprocal(half_denominator: np.ndarray) -> np.ndarray:
    """Three Newton-Raphson steps for 1 / half_denominator; Q2.29 result (gemmlowp's loop)."""
    one_q2 = 1 << 29
    x = wrap_int32(FORTY_EIGHT_OVER_SEVENTEEN + _mul(half_denominator, MINUS_THIRTY_TWO_OVER_SEVENTEEN))
    for _ in range(3):
        half_denominator_times_x = _mul(half_denominator, x)
        one_minus_half_denominator_times_x = wrap_int32(one_q2 - half_denominator_times_x)
        x = wrap_int32(x + rescale(_mul(x, one_minus_half_denominator_times_x), 4, 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """gemmlowp ``one_over_one_plus_x_for_x_in_0_1``: Q0.31 in and out."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = _newton_raphson_reciprocal(half_denominator)
    # ExactMulByPot<-1> reinterprets Q2.29 as Q1.30; Rescale<0> then shifts by one.
    return rescale(x, 1, 0)


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """gemmlowp ``one_minus_x_over_one_plus_x_for_x_in_0_1``: Q0.31 in and out."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = _newton_raphson_reciprocal(half_denominator)
    return rescale(wrap_int32(x - (1 << 29)), 2, 0)


def logistic(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """gemmlowp ``logistic``: Q(integer_bits) in, Q0.31 out."""
    a = np.asarray(a, dtype=np.int64)
    positive = a > 0
    abs_input = np.where(positive, a, wrap_int32(-a))
    result_if_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap_int32(-abs_input), integer_bits))
    result_if_negative = wrap_int32(INT32_MAX - result_if_positive)
    return np.where(a == 0, 1 << 30, np.where(positive, result_if_positive, result_if_negative))


def tanh(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """gemmlowp ``tanh``: Q(integer_bits) in, Q0.31 out."""
    a = np.asarray(a, dtype=np.int64)
    negative = a < 0
    n = np.where(negative, a, wrap_int32(-a))
    # neg_tanh_on_negative_values: ExactMulByPot<1> reinterprets n with one more integer bit.
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return np.where(a == 0, 0, np.where(negative, wrap_int32(-t), t))


def count_leading_zeros_uint32(x: np.ndarray) -> np.ndarray:
    """``CountLeadingZeros`` of the values read as uint32 (32 for zero)."""
    x = np.asarray(x, dtype=np.int64) & 0xFFFFFFFF
    bit_length = np.zeros(x.shape, dtype=np.int64)
    remaining = x.copy()
    for shift in (16, 8, 4, 2, 1):
        high = remaining >= (np.int64(1) << shift)
        bit_length += np.where(high, shift, 0)
        remaining = np.where(high, remaining >> shift, remaining)
    bit_length += remaining  # remaining is now 0 or 1
    return 32 - bit_length


def get_reciprocal(x: np.ndarray, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite ``GetReciprocal``: returns ``(shifted_scale Q0.31, num_bits_over_unit)``."""
    x = np.asarray(x, dtype=np.int64)
    headroom_plus_one = count_leading_zeros_uint32(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted = ((x & 0xFFFFFFFF) << headroom_plus_one) & 0xFFFFFFFF
    shifted_sum_minus_one = wrap_int32(shifted - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit
