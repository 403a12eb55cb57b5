/* Fixed-point requantization shared by every pqk runtime kernel.
 *
 * Mirrors pqk_mcu/quant/fixed_point.py line for line (saturating_rounding_doubling_high_mul,
 * rounding_divide_by_pot, multiply_by_quantized_multiplier), which in turn is exact to TensorFlow
 * Lite Micro / gemmlowp. Signed right shifts are arithmetic on every supported compiler (gcc).
 */
#ifndef PQK_REQUANTIZE_H
#define PQK_REQUANTIZE_H

#include <stdint.h>

/* gemmlowp SaturatingRoundingDoublingHighMul: round(a * b / 2^31), saturating the one overflow. */
static inline int32_t pqk_srdhm(int32_t a, int32_t b)
{
    const int overflow = (a == b) && (a == INT32_MIN);
    const int64_t ab_64 = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab_64 >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    const int64_t numerator = ab_64 + nudge;
    /* C integer division truncates toward zero, like the C++ original. */
    const int32_t high = (int32_t)(numerator / ((int64_t)1 << 31));
    return overflow ? INT32_MAX : high;
}

/* gemmlowp RoundingDivideByPOT: x / 2^exponent, ties away from zero; exponent in [0, 31]. */
static inline int32_t pqk_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite MultiplyByQuantizedMultiplier: x * multiplier * 2^(shift - 31), shift > 0 shifts left. */
static inline int32_t pqk_requantize(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left_shift = shift > 0 ? shift : 0;
    const int32_t right_shift = shift > 0 ? 0 : -shift;
    /* The left shift wraps modulo 2^32 like the Python _wrap_int32. */
    return pqk_rounding_divide_by_pot(pqk_srdhm((int32_t)((uint32_t)x << left_shift), multiplier), right_shift);
}

/* TFLite MultiplyByQuantizedMultiplier(int64_t x, ...) of the 16x8 kernels' 64-bit accumulators
 * (|x| < 2^47, shift in [-31, 7]): the multiplier rounded to 16 bits, one rounding shift; mirrors
 * pqk_mcu.quant.multiply_by_quantized_multiplier_int64_array. */
static inline int32_t pqk_requantize_s64(int64_t x, int32_t multiplier, int32_t shift)
{
    const int64_t reduced = multiplier < 0x7FFF0000 ? (int64_t)((multiplier + (1 << 15)) >> 16) : 0x7FFF;
    const int32_t total_shift = 15 - shift;
    return (int32_t)((x * reduced + ((int64_t)1 << (total_shift - 1))) >> total_shift);
}

/* Clamp an int32 to [min, max] and narrow it to int16 (min/max are within int16). */
static inline int16_t pqk_clamp_s16(int32_t value, int32_t min, int32_t max)
{
    if (value < min) {
        value = min;
    }
    if (value > max) {
        value = max;
    }
    return (int16_t)value;
}

/* Clamp an int32 to [min, max] and narrow it to int8 (min/max are within int8). */
static inline int8_t pqk_clamp_s8(int32_t value, int32_t min, int32_t max)
{
    if (value < min) {
        value = min;
    }
    if (value > max) {
        value = max;
    }
    return (int8_t)value;
}

#endif /* PQK_REQUANTIZE_H */
