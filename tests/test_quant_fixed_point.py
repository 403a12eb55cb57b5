"""pqk_mcu.quant: vectorized forms against the scalar transliterations of TFLite's C++.

The scalar functions in fixed_point.py are line-for-line transliterations of TFLite / gemmlowp
and serve as the specification; the numpy forms must agree with them everywhere, including the
corners (INT32_MIN saturation, rounding ties, extreme shifts). The gemmlowp transcendental
functions are checked against math within their documented accuracy (their bit-exactness with
TFLite Micro is covered by the reference-vs-TFLM tests).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pqk_mcu.quant import (
    INT32_MAX,
    INT32_MIN,
    activation_range,
    add_params,
    affine_quantize_array,
    calculate_input_radius,
    conv_multipliers,
    dequantize_array,
    fully_connected_multiplier,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_array,
    quantize_multiplier,
    rounding_divide_by_pot,
    rounding_divide_by_pot_array,
    saturating_rounding_doubling_high_mul,
    sigmoid_params,
    softmax_params,
    srdhm_array,
    tflite_round,
)
from pqk_mcu.quant import gemmlowp

int32s = st.integers(INT32_MIN, INT32_MAX)
multipliers = st.integers(1 << 30, INT32_MAX)
EDGE_INT32 = [INT32_MIN, INT32_MIN + 1, -(1 << 30), -3, -2, -1, 0, 1, 2, 3, (1 << 30), INT32_MAX - 1, INT32_MAX]


def _scalar_map(function, *columns):
    return np.array([function(*map(int, args)) for args in zip(*columns)], dtype=np.int64)


# ------------------------------------------------------------------ SaturatingRoundingDoublingHighMul


def test_srdhm_saturates_int32_min_squared():
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN) == INT32_MAX
    assert srdhm_array(np.array([INT32_MIN]), INT32_MIN)[0] == INT32_MAX
    # Only the exact pair saturates.
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN + 1) == INT32_MAX
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MAX) == -INT32_MAX


def test_srdhm_edge_grid_matches_scalar():
    a, b = np.meshgrid(EDGE_INT32, EDGE_INT32)
    a, b = a.ravel(), b.ravel()
    assert np.array_equal(srdhm_array(a, b), _scalar_map(saturating_rounding_doubling_high_mul, a, b))


def test_srdhm_rounding_ties():
    # a*b = +-2^30 is exactly half a unit of the 2^31 result scale: gemmlowp's nudge rounds the
    # positive tie up and the negative tie toward zero.
    assert saturating_rounding_doubling_high_mul(1 << 15, 1 << 15) == 1
    assert saturating_rounding_doubling_high_mul(-(1 << 15), 1 << 15) == 0
    assert saturating_rounding_doubling_high_mul(-(1 << 15), (1 << 15) + 1) == -1
    assert saturating_rounding_doubling_high_mul((1 << 15) - 1, 1 << 15) == 0


@given(st.lists(st.tuples(int32s, int32s), min_size=1, max_size=50))
def test_srdhm_random_matches_scalar(pairs):
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    b = np.array([p[1] for p in pairs], dtype=np.int64)
    assert np.array_equal(srdhm_array(a, b), _scalar_map(saturating_rounding_doubling_high_mul, a, b))


# ------------------------------------------------------------------ RoundingDivideByPOT


@pytest.mark.parametrize(
    "x, exponent, expected",
    [(3, 1, 2), (-3, 1, -2), (5, 1, 3), (-5, 1, -3), (1, 1, 1), (-1, 1, -1), (6, 2, 2), (-6, 2, -2),
     (7, 0, 7), (INT32_MAX, 31, 1), (INT32_MIN, 31, -1), (-(1 << 30), 31, -1), ((1 << 30) - 1, 31, 0)],
)
def test_rounding_divide_by_pot_ties_away_from_zero(x, exponent, expected):
    assert rounding_divide_by_pot(x, exponent) == expected
    assert rounding_divide_by_pot_array(np.array([x]), exponent)[0] == expected


@given(st.lists(st.tuples(int32s, st.integers(0, 31)), min_size=1, max_size=50))
def test_rounding_divide_by_pot_random_matches_scalar(pairs):
    x = np.array([p[0] for p in pairs], dtype=np.int64)
    e = np.array([p[1] for p in pairs], dtype=np.int64)
    assert np.array_equal(rounding_divide_by_pot_array(x, e), _scalar_map(rounding_divide_by_pot, x, e))


@given(int32s, st.integers(0, 31))
def test_rounding_divide_by_pot_is_nearest(x, exponent):
    result = rounding_divide_by_pot(x, exponent)
    exact = x / (1 << exponent)
    assert abs(result - exact) <= 0.5
    if abs(result - exact) == 0.5:
        assert abs(result) > abs(exact)  # ties go away from zero


# ------------------------------------------------------------------ MultiplyByQuantizedMultiplier


def test_mbqm_edge_grid_matches_scalar():
    shifts = [-31, -30, -16, -1, 0, 1, 7, 30]
    mults = [0, 1 << 30, (1 << 30) + 1, INT32_MAX]
    x, m, s = (a.ravel() for a in np.meshgrid(EDGE_INT32, mults, shifts))
    expected = _scalar_map(multiply_by_quantized_multiplier, x, m, s)
    assert np.array_equal(multiply_by_quantized_multiplier_array(x, m, s), expected)


def test_mbqm_left_shift_wraps_like_int32():
    # x * (1 << left_shift) overflows int32 in C++ and wraps (two's complement hosts).
    x = (1 << 30) + 5
    assert multiply_by_quantized_multiplier(x, 1 << 30, 2) == multiply_by_quantized_multiplier_array(
        np.array([x]), 1 << 30, 2
    )[0]
    assert multiply_by_quantized_multiplier(x, 1 << 30, 2) == saturating_rounding_doubling_high_mul(20, 1 << 30)


@given(st.lists(st.tuples(int32s, multipliers, st.integers(-31, 30)), min_size=1, max_size=50))
def test_mbqm_random_matches_scalar(triples):
    x, m, s = (np.array(column, dtype=np.int64) for column in zip(*triples))
    expected = _scalar_map(multiply_by_quantized_multiplier, x, m, s)
    assert np.array_equal(multiply_by_quantized_multiplier_array(x, m, s), expected)


@given(st.integers(-(1 << 20), 1 << 20), st.floats(1e-6, 0.99))
def test_mbqm_approximates_real_product(x, real):
    multiplier, shift = quantize_multiplier(real)
    assert abs(multiply_by_quantized_multiplier(x, multiplier, shift) - x * real) <= 1.0 + abs(x) * real * 2e-9


def test_mbqm_per_channel_broadcast():
    acc = np.arange(-12, 12, dtype=np.int64).reshape(2, 3, 4)
    m = np.array([1 << 30, 1 << 30, 1518500250, INT32_MAX])
    s = np.array([-1, 0, -3, -31])
    expected = np.array([[[multiply_by_quantized_multiplier(int(v), int(m[c]), int(s[c])) for c, v in enumerate(row)]
                          for row in plane] for plane in acc])
    assert np.array_equal(multiply_by_quantized_multiplier_array(acc, m, s), expected)


# ------------------------------------------------------------------ QuantizeMultiplier


def test_quantize_multiplier_zero():
    assert quantize_multiplier(0.0) == (0, 0)


def test_quantize_multiplier_rounds_up_to_two_pow_31():
    # The significand rounds to 2^31: halve it and bump the shift.
    assert quantize_multiplier(1.0 - 2.0**-40) == (1 << 30, 1)
    assert quantize_multiplier(0.5 - 2.0**-42) == (1 << 30, 0)


def test_quantize_multiplier_flushes_shift_below_minus_31():
    assert quantize_multiplier(2.0**-40) == (0, 0)
    assert quantize_multiplier(2.0**-32) == (1 << 30, -31)  # frexp exponent -31 is still kept
    assert quantize_multiplier(2.0**-33) == (0, 0)


def test_quantize_multiplier_ties_round_away_from_zero():
    # significand * 2^31 = 2^30 + 0.5 exactly -> rounds up (std::round), not to even.
    real = (2.0**30 + 0.5) / 2.0**31
    assert quantize_multiplier(real) == ((1 << 30) + 1, 0)
    real = (2.0**30 + 2.5) / 2.0**31
    assert quantize_multiplier(real) == ((1 << 30) + 3, 0)


@given(st.floats(2.0**-31, 2.0**20, allow_nan=False, allow_infinity=False))
def test_quantize_multiplier_reconstructs(real):
    multiplier, shift = quantize_multiplier(real)
    assert (1 << 30) <= multiplier < (1 << 31)
    assert abs(multiplier * 2.0 ** (shift - 31) - real) <= 2.0 ** (shift - 32)


def test_tflite_round_halves_away_from_zero():
    assert [tflite_round(v) for v in (0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994)] == [1, 2, 3, -1, -2, -3, 0]


def test_conv_multipliers_in_double_order():
    tenth, hundredth = float(np.float32(0.1)), float(np.float32(0.01))
    m, s = conv_multipliers(0.5, [0.25, tenth], hundredth)
    assert (int(m[0]), int(s[0])) == quantize_multiplier(0.5 * 0.25 / hundredth)
    # (input * filter) / output in double, left to right, as PopulateConvolutionQuantizationParams.
    assert (int(m[1]), int(s[1])) == quantize_multiplier((0.5 * tenth) / hundredth)


def test_fully_connected_multiplier_multiplies_in_float32():
    in_s, f_s, out_s = (float(np.float32(v)) for v in (0.0123, 0.00456, 0.0789))
    product = float(np.float32(in_s) * np.float32(f_s))
    assert fully_connected_multiplier(in_s, f_s, out_s) == quantize_multiplier(product / out_s)


def test_activation_range():
    assert activation_range("NONE", 0.1, 3) == (-128, 127)
    assert activation_range("RELU", 0.1, 3) == (3, 127)
    assert activation_range("RELU6", 0.1, -128) == (-128, -68)
    assert activation_range("RELU_N1_TO_1", 0.01, 0) == (-100, 100)
    assert activation_range("RELU6", 0.01, 0) == (0, 127)


# ------------------------------------------------------------------ op parameter derivation


def test_add_params_equal_scales():
    p = add_params(0.5, 0.5, 0.25)
    assert (p.left_shift, p.input1_multiplier, p.input1_shift) == (20, 1 << 30, 0)
    assert (p.input2_multiplier, p.input2_shift) == (1 << 30, 0)
    assert (p.output_multiplier, p.output_shift) == quantize_multiplier(1.0 / ((1 << 20) * 0.25))


def test_softmax_params_for_typical_scale():
    p = softmax_params(1.0, 1 / 16)
    assert (p.input_multiplier, p.input_left_shift) == quantize_multiplier(2.0**22)
    assert p.diff_min == -math.floor(31 * 2.0**26 / 2.0**p.input_left_shift)
    assert calculate_input_radius(5, p.input_left_shift) == -p.diff_min


def test_sigmoid_params_wrap_two_pow_31():
    # frexp significand that rounds to 2^31 is not corrected by TFLM: it wraps to INT32_MIN.
    scale = float(np.float32(1.0 - 2.0**-24)) * 2.0**-20
    real = scale * 2.0**27
    significand = math.frexp(real)[0]
    p = sigmoid_params(scale)
    if tflite_round(significand * 2.0**31) == 1 << 31:
        assert p.input_multiplier == INT32_MIN
    else:
        assert p.input_multiplier == tflite_round(significand * 2.0**31)


# ------------------------------------------------------------------ gemmlowp fixed point


def _q(value: float, integer_bits: int) -> np.ndarray:
    return np.array([round(value * 2.0 ** (31 - integer_bits))], dtype=np.int64)


@pytest.mark.parametrize("integer_bits", [0, 4, 5, 6])
def test_exp_on_negative_values_accuracy(integer_bits):
    limit = min(2.0**integer_bits, 16.0) if integer_bits else 1.0
    xs = np.linspace(-limit + 1e-6, 0, 401)
    raw = np.round(xs * 2.0 ** (31 - integer_bits)).astype(np.int64)
    result = gemmlowp.exp_on_negative_values(raw, integer_bits) / 2.0**31
    assert np.max(np.abs(result - np.exp(raw / 2.0 ** (31 - integer_bits)))) < 3e-7


def test_exp_on_negative_values_zero_is_one():
    assert gemmlowp.exp_on_negative_values(np.array([0]), 5)[0] == INT32_MAX


def test_one_over_one_plus_x_accuracy():
    xs = np.linspace(0, 1, 257)[:-1]
    raw = np.round(xs * 2.0**31).astype(np.int64)
    result = gemmlowp.one_over_one_plus_x_for_x_in_0_1(raw) / 2.0**31
    assert np.max(np.abs(result - 1 / (1 + raw / 2.0**31))) < 2e-8


@pytest.mark.parametrize(
    "function, reference", [(gemmlowp.logistic, lambda x: 1 / (1 + np.exp(-x))), (gemmlowp.tanh, np.tanh)]
)
def test_logistic_and_tanh_accuracy(function, reference):
    xs = np.linspace(-15.9, 15.9, 1001)
    raw = np.round(xs * 2.0**27).astype(np.int64)
    result = function(raw, 4) / 2.0**31
    assert np.max(np.abs(result - reference(raw / 2.0**27))) < 1e-7
    assert function(np.array([0]), 4)[0] == (1 << 30 if function is gemmlowp.logistic else 0)


@given(st.lists(st.integers(0, (1 << 32) - 1), min_size=1, max_size=40))
def test_count_leading_zeros(values):
    expected = [32 - v.bit_length() for v in values]
    assert gemmlowp.count_leading_zeros_uint32(np.array(values, dtype=np.int64)).tolist() == expected


@given(st.integers(1 << 19, INT32_MAX))
def test_get_reciprocal(x):
    scale, bits_over_unit = gemmlowp.get_reciprocal(np.array([x]), 12)
    # shifted_scale / 2^31 * 2^-bits_over_unit approximates 1 / (x / 2^19).
    approx = scale[0] / 2.0**31 / 2.0 ** bits_over_unit[0]
    assert abs(approx - 2.0**19 / x) <= 2.0**19 / x * 1e-6


def test_saturating_rounding_multiply_by_pot():
    x = np.array([INT32_MIN, -(1 << 29) - 1, -(1 << 29), 5, (1 << 29) - 1, 1 << 29, INT32_MAX])
    assert gemmlowp.saturating_rounding_multiply_by_pot(x, 2).tolist() == [
        INT32_MIN, INT32_MIN, -(1 << 31), 20, (1 << 31) - 4, INT32_MAX, INT32_MAX,
    ]
    assert gemmlowp.saturating_rounding_multiply_by_pot(np.array([5, -5]), -1).tolist() == [3, -3]


def test_rounding_half_sum():
    assert gemmlowp.rounding_half_sum(np.array([1, -1, 3, INT32_MAX]), np.array([0, 0, 4, INT32_MAX])).tolist() == [
        1, -1, 4, INT32_MAX,
    ]


# ------------------------------------------------------------------ float edges


def test_affine_quantize_rounds_half_away_from_zero_and_clamps():
    x = np.array([0.5, -0.5, 1.5, -1.5, 2.4999, 1e9, -1e9, 3e9, np.inf, np.nan], dtype=np.float32)
    # Out-of-int32-range and NaN become INT32_MIN before the clamp (x86 float->int conversion).
    assert affine_quantize_array(x, 1.0, 0).tolist() == [1, -1, 2, -2, 2, 127, -128, -128, -128, -128]
    assert affine_quantize_array(np.array([0.3], dtype=np.float32), 0.1, 10)[0] == 13


@given(st.lists(st.floats(-1e3, 1e3, width=32), min_size=1, max_size=30), st.floats(2.0**-13, 1.0, width=32),
       st.integers(-128, 127))
def test_affine_quantize_matches_float32_formula(values, scale, zero_point):
    x = np.array(values, dtype=np.float32)
    quotient = x / np.float32(scale)
    expected = [max(-128, min(127, tflite_round(float(q)) + zero_point)) for q in quotient]
    assert affine_quantize_array(x, scale, zero_point).tolist() == expected


@given(st.lists(st.integers(-128, 127), min_size=1, max_size=30), st.floats(2.0**-20, 8.0, width=32),
       st.integers(-128, 127))
def test_dequantize_is_one_float32_rounding(values, scale, zero_point):
    q = np.array(values, dtype=np.int8)
    expected = np.float32(scale) * (q.astype(np.int32) - zero_point).astype(np.float32)
    assert np.array_equal(dequantize_array(q, scale, zero_point), expected)
