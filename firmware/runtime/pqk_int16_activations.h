/* Sigmoid and tanh in Q0.15 by TFLite's int16 table interpolation (reference_integer_ops::Logistic / Tanh),
 * shared by pqk_logistic_s16, pqk_tanh_s16 and pqk_lstm_s8. Mirrors pqk_mcu/reference/activations_int16.py
 * (table_sigmoid, table_tanh) line for line.
 *
 * table: sigmoid(i / 24) in unsigned Q0.16, 256 entries (saturating from entry 255 on). The input x is
 * first rescaled to x' = (x * multiplier + rounding) >> shift; |x * multiplier| < 2^30.
 */
#ifndef PQK_INT16_ACTIVATIONS_H
#define PQK_INT16_ACTIVATIONS_H

#include <stdint.h>

static inline int32_t pqk_table_rescale(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t rounding = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
    return (x * multiplier + rounding) >> shift;
}

/* sigmoid: |x'| interpolates the table with 9 fraction bits; a negative x' takes 1 - sigmoid(|x'|). */
static inline int16_t pqk_table_sigmoid(const uint16_t *table, int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t scaled = pqk_table_rescale(x, multiplier, shift);
    const uint32_t magnitude = (uint32_t)(scaled < 0 ? -scaled : scaled);
    const uint32_t index = magnitude >> 9;
    uint32_t result = 0x7FFFu << 10;
    if (index < 255u) {
        const uint32_t low = table[index], high = table[index + 1u];
        result = (low << 9) + (magnitude & 0x1FFu) * (high - low);
    }
    result = scaled >= 0 ? result + (1u << 9) : (1u << 25) - result + (1u << 9) - 1u;
    return (int16_t)(result >> 10);
}

/* tanh(x) = 2 sigmoid(2x) - 1: |x'| interpolates the table with 8 fraction bits; the sign folds the result. */
static inline int16_t pqk_table_tanh(const uint16_t *table, int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t scaled = pqk_table_rescale(x, multiplier, shift);
    const uint32_t magnitude = (uint32_t)(scaled < 0 ? -scaled : scaled);
    const uint32_t index = magnitude >> 8;
    int32_t result = (int32_t)(0xFFFFu << 8);
    if (index < 255u) {
        const uint32_t low = table[index], high = table[index + 1u];
        result = (int32_t)((low << 8) + (magnitude & 0xFFu) * (high - low));
    }
    result = scaled >= 0 ? result - (1 << 23) + (1 << 7) : -result + (1 << 23) + (1 << 7) - 1;
    return (int16_t)(result >> 8);
}

#endif /* PQK_INT16_ACTIVATIONS_H */
