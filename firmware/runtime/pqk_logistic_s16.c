/* pqk_logistic_s16: 16x8 LOGISTIC (TFLite Micro's int16 Logistic, zero points 0).
 *
 * input, output [size] int16; output scale 2^-15. Each input becomes x' = (x * input_multiplier +
 * rounding) >> input_shift, its magnitude interpolates sigmoid_table (sigmoid(i / 24), Q0.16) with 9
 * fraction bits (the table saturates from entry 255 on), and a negative x' takes 1 - sigmoid(|x'|).
 * |x * input_multiplier| < 2^30. input and output may be the same buffer.
 */
#include "pqk_int16_activations.h"
#include "pqk_runtime.h"

void pqk_logistic_s16(const pqk_sigmoid_s16_params_t *params, const int16_t *input, int16_t *output)
{
    int32_t i;
    for (i = 0; i < params->size; ++i) {
        output[i] = pqk_table_sigmoid(params->sigmoid_table, input[i], params->input_multiplier, params->input_shift);
    }
}
