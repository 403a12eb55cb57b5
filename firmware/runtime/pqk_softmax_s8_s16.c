/* pqk_softmax_s8_s16: SOFTMAX from int8 to int16 over the innermost dimension (TFLite Micro's 8-in
 * 16-out form, as in its keyword_scrambled model).
 *
 * input  [rows][depth] int8; output [rows][depth] int16 with scale 1/65536 and zero point -32768.
 * Each row's exps scaled by its reciprocal (pqk_softmax.h), as pqk_softmax_s8 with 16 output bits.
 */
#include "pqk_softmax.h"

void pqk_softmax_s8_s16(const pqk_softmax_s8_params_t *params, const int8_t *input, int16_t *output)
{
    int32_t r, c;
    for (r = 0; r < params->rows; ++r) {
        const int8_t *x = input + r * params->depth;
        int16_t *y = output + r * params->depth;
        int32_t max, num_bits_over_unit;
        const int32_t scale = pqk_softmax_row_scale(params, x, &max, &num_bits_over_unit);
        for (c = 0; c < params->depth; ++c) {
            const int32_t unsaturated = pqk_rounding_divide_by_pot(pqk_srdhm(scale, params->exp_table[max - x[c]]),
                                                                   num_bits_over_unit + 31 - 16);
            const int32_t shifted = unsaturated - 32768;
            y[c] = (int16_t)(shifted < -32768 ? -32768 : (shifted > 32767 ? 32767 : shifted));
        }
    }
}
