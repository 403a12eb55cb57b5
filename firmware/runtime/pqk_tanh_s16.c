/* pqk_tanh_s16: 16x8 TANH (TFLite Micro's int16 Tanh, zero points 0).
 *
 * input, output [size] int16; output scale 2^-15. tanh(x) = 2 sigmoid(2x) - 1: each input becomes
 * x' = (x * input_multiplier + rounding) >> input_shift, its magnitude interpolates sigmoid_table
 * (sigmoid(i / 24), Q0.16) with 8 fraction bits (saturating from entry 255 on), and the sign of x' folds
 * the result around 0. |x * input_multiplier| < 2^30. input and output may be the same buffer.
 */
#include "pqk_runtime.h"

void pqk_tanh_s16(const pqk_sigmoid_s16_params_t *params, const int16_t *input, int16_t *output)
{
    const int32_t shift = params->input_shift;
    const int32_t rounding = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
    int32_t i;
    for (i = 0; i < params->size; ++i) {
        const int32_t x = ((int32_t)input[i] * params->input_multiplier + rounding) >> shift;
        const uint32_t magnitude = (uint32_t)(x < 0 ? -x : x);
        const uint32_t index = magnitude >> 8;
        int32_t result = (int32_t)(0xFFFFu << 8);
        if (index < 255u) {
            const uint32_t low = params->sigmoid_table[index];
            const uint32_t high = params->sigmoid_table[index + 1u];
            result = (int32_t)((low << 8) + (magnitude & 0xFFu) * (high - low));
        }
        result = x >= 0 ? result - (1 << 23) + (1 << 7) : -result + (1 << 23) + (1 << 7) - 1;
        output[i] = (int16_t)(result >> 8);
    }
}
