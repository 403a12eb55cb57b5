/* pqk_tanh_s16: 16x8 TANH (TFLite Micro's int16 Tanh, zero points 0).
 *
 * input, output [size] int16; output scale 2^-15. tanh(x) = 2 sigmoid(2x) - 1: each input becomes
 * x' = (x * input_multiplier + rounding) >> input_shift, its magnitude interpolates sigmoid_table
 * (sigmoid(i / 24), Q0.16) with 8 fraction bits (saturating from entry 255 on), and the sign of x' folds
 * the result around 0. |x * input_multiplier| < 2^30. input and output may be the same buffer.
 */
#include "pqk_int16_activations.h"
#include "pqk_runtime.h"

void pqk_tanh_s16(const pqk_sigmoid_s16_params_t *params, const int16_t *input, int16_t *output)
{
    int32_t i;
    for (i = 0; i < params->size; ++i) {
        output[i] = pqk_table_tanh(params->sigmoid_table, input[i], params->input_multiplier, params->input_shift);
    }
}
