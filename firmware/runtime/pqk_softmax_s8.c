/* pqk_softmax_s8: int8 SOFTMAX over the innermost dimension (TFLite / gemmlowp fixed point).
 *
 * input  [rows][depth] int8; output [rows][depth] int8 with scale 1/256 and zero point -128.
 * Each row's exps scaled by its reciprocal (pqk_softmax.h).
 */
#include "pqk_softmax.h"

void pqk_softmax_s8(const pqk_softmax_s8_params_t *params, const int8_t *input, int8_t *output)
{
    int32_t r, c;
    for (r = 0; r < params->rows; ++r) {
        const int8_t *x = input + r * params->depth;
        int8_t *y = output + r * params->depth;
        int32_t max, num_bits_over_unit;
        const int32_t scale = pqk_softmax_row_scale(params, x, &max, &num_bits_over_unit);
        for (c = 0; c < params->depth; ++c) {
            const int32_t unsaturated = pqk_rounding_divide_by_pot(pqk_srdhm(scale, params->exp_table[max - x[c]]),
                                                                   num_bits_over_unit + 31 - 8);
            y[c] = pqk_clamp_s8(unsaturated - 128, -128, 127);
        }
    }
}
