/* pqk_softmax_s16: SOFTMAX from int16 to int16 over the innermost dimension (TFLite Micro's
 * SoftmaxInt16, zero points 0).
 *
 * input [rows][depth] int16; output [rows][depth] int16 with scale 2^-15, in [0, 32767]. Each difference
 * to the row maximum, requantized by (input_multiplier, input_shift) so that -65535 means -10, plus
 * 32767 looks up exp in exp_table; the row sum, normalized to [1, 2), looks up its reciprocal in
 * reciprocal_table (513 int16 entries each, linear between entries). The exps wait in the output row, so
 * input and output must not overlap. depth < 65536.
 */
#include "pqk_requantize.h"
#include "pqk_runtime.h"

/* TFLite's generic_int16_table_lookup: 512 segments of 128 inputs, linear between the entries. */
static int16_t table_lookup(int32_t value, const int16_t *table)
{
    const int32_t index = 256 + (value >> 7);
    const int32_t offset = value & 0x7F;
    const int16_t base = table[index];
    const int16_t slope = (int16_t)(table[index + 1] - base);
    return (int16_t)(base + ((slope * offset + 64) >> 7));
}

static int32_t clamp_s16(int32_t value)
{
    return value < INT16_MIN ? INT16_MIN : (value > INT16_MAX ? INT16_MAX : value);
}

void pqk_softmax_s16(const pqk_softmax_s16_params_t *params, const int16_t *input, int16_t *output)
{
    int32_t r, c;
    for (r = 0; r < params->rows; ++r) {
        const int16_t *x = input + r * params->depth;
        int16_t *y = output + r * params->depth;
        int32_t max = INT16_MIN, sum = 0, headroom_plus_one = 0, right_shift;
        int16_t reciprocal;
        uint32_t bits;
        for (c = 0; c < params->depth; ++c) {
            max = x[c] > max ? x[c] : max;
        }
        for (c = 0; c < params->depth; ++c) {
            const int32_t scaled = pqk_requantize(x[c] - max, params->input_multiplier, params->input_shift);
            y[c] = table_lookup(clamp_s16(scaled + 32767), params->exp_table);
            sum += y[c];
        }
        for (bits = (uint32_t)sum; bits != 0u && (bits & 0x80000000u) == 0u; bits <<= 1) {
            ++headroom_plus_one; /* the sum holds at least the maximum's exp (> 0) */
        }
        reciprocal = table_lookup(
            clamp_s16((int32_t)((((int64_t)sum << (headroom_plus_one - 1)) + (1 << 13)) >> 14) - (1 << 15) - (1 << 16)),
            params->reciprocal_table);
        right_shift = 31 - headroom_plus_one;
        for (c = 0; c < params->depth; ++c) {
            const int32_t result = (int32_t)(((int64_t)y[c] * reciprocal + ((int64_t)1 << (right_shift - 1))) >> right_shift);
            y[c] = (int16_t)(result < 0 ? 0 : (result > 32767 ? 32767 : result));
        }
    }
}
