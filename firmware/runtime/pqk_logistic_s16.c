/* pqk_logistic_s16: 16x8 LOGISTIC (TFLite Micro's int16 Logistic, zero points 0).
 *
 * input, output [size] int16; output scale 2^-15. Each input becomes x' = (x * input_multiplier +
 * rounding) >> input_shift, its magnitude interpolates sigmoid_table (sigmoid(i / 24), Q0.16) with 9
 * fraction bits (the table saturates from entry 255 on), and a negative x' takes 1 - sigmoid(|x'|).
 * |x * input_multiplier| < 2^30. input and output may be the same buffer.
 */
#include "pqk_runtime.h"

void pqk_logistic_s16(const pqk_sigmoid_s16_params_t *params, const int16_t *input, int16_t *output)
{
    const int32_t shift = params->input_shift;
    const int32_t rounding = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
    int32_t i;
    for (i = 0; i < params->size; ++i) {
        const int32_t x = ((int32_t)input[i] * params->input_multiplier + rounding) >> shift;
        const uint32_t magnitude = (uint32_t)(x < 0 ? -x : x);
        const uint32_t index = magnitude >> 9;
        uint32_t result = 0x7FFFu << 10;
        if (index < 255u) {
            const uint32_t low = params->sigmoid_table[index];
            const uint32_t high = params->sigmoid_table[index + 1u];
            result = (low << 9) + (magnitude & 0x1FFu) * (high - low);
        }
        result = x >= 0 ? result + (1u << 9) : (1u << 25) - result + (1u << 9) - 1u;
        output[i] = (int16_t)(result >> 10);
    }
}
