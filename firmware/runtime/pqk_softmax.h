/* pqk_softmax.h: the row arithmetic shared by the SOFTMAX kernels (TFLite / gemmlowp fixed point):
 * exp_table (pqk_softmax_s8_params_t) already holds exp of each possible distance to the row maximum
 * in Q0.31; a row sums them in Q12.19 and takes the gemmlowp Newton-Raphson reciprocal.
 */
#ifndef PQK_SOFTMAX_H
#define PQK_SOFTMAX_H

#include "pqk_requantize.h"
#include "pqk_runtime.h"

enum { PQK_ACCUMULATION_INTEGER_BITS = 12 };

static inline int32_t count_leading_zeros(uint32_t x)
{
    int32_t count = 0;
    if (x == 0u) {
        return 32;
    }
    while ((x & 0x80000000u) == 0u) {
        x <<= 1;
        ++count;
    }
    return count;
}

/* gemmlowp SaturatingRoundingMultiplyByPOT for a positive exponent. */
static inline int32_t saturating_shift_left(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)(((int32_t)1 << (31 - exponent)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return x * ((int32_t)1 << exponent);
}

/* gemmlowp RoundingHalfSum. */
static inline int32_t rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    const int64_t sign = sum >= 0 ? 1 : -1;
    return (int32_t)((sum + sign) / 2);
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1: Q0.31 in, Q0.31 out. */
static inline int32_t one_over_one_plus_x(int32_t a)
{
    const int32_t half_denominator = rounding_half_sum(a, INT32_MAX);
    const int32_t constant_48_over_17 = 1515870810;      /* Q2.29 */
    const int32_t constant_neg_32_over_17 = -1010580540; /* Q2.29 */
    const int32_t one_q2 = (int32_t)1 << 29;
    int32_t x = constant_48_over_17 + pqk_srdhm(half_denominator, constant_neg_32_over_17);
    int32_t i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = pqk_srdhm(half_denominator, x);
        const int32_t one_minus_half_denominator_times_x = one_q2 - half_denominator_times_x;
        x = x + saturating_shift_left(pqk_srdhm(x, one_minus_half_denominator_times_x), 2);
    }
    return saturating_shift_left(x, 1);
}

/* TFLite GetReciprocal for a Q12.19 sum. */
static inline int32_t reciprocal(int32_t x, int32_t *num_bits_over_unit)
{
    const int32_t headroom_plus_one = count_leading_zeros((uint32_t)x);
    const int32_t shifted_sum_minus_one = (int32_t)(((uint32_t)x << headroom_plus_one) - ((uint32_t)1 << 31));
    *num_bits_over_unit = PQK_ACCUMULATION_INTEGER_BITS - headroom_plus_one;
    return one_over_one_plus_x(shifted_sum_minus_one);
}

/* The row maximum of x[0 .. depth) and the reciprocal of its sum of exps (with its num_bits_over_unit). */
static inline __attribute__((always_inline)) int32_t pqk_softmax_row_scale(
    const pqk_softmax_s8_params_t *params, const int8_t *x, int32_t *max, int32_t *num_bits_over_unit)
{
    int32_t sum_of_exps = 0;
    int32_t c;
    *max = -128;
    for (c = 0; c < params->depth; ++c) {
        *max = x[c] > *max ? x[c] : *max;
    }
    for (c = 0; c < params->depth; ++c) {
        sum_of_exps += pqk_rounding_divide_by_pot(params->exp_table[*max - x[c]], PQK_ACCUMULATION_INTEGER_BITS);
    }
    return reciprocal(sum_of_exps, num_bits_over_unit);
}

#endif
