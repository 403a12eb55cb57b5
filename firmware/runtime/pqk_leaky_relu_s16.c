/* pqk_leaky_relu_s16: 16x8 LEAKY_RELU (TFLite Micro's QuantizeLeakyRelu on int16, zero points 0).
 *
 * input, output [size] int16: x >= 0 requantized by (identity_multiplier, identity_shift), x < 0 by
 * (alpha_multiplier, alpha_shift), saturated to int16. input and output may be the same buffer.
 */
#include "pqk_requantize.h"
#include "pqk_runtime.h"

void pqk_leaky_relu_s16(const pqk_leaky_relu_s16_params_t *params, const int16_t *input, int16_t *output)
{
    int32_t i;
    for (i = 0; i < params->size; ++i) {
        const int32_t x = input[i];
        const int32_t y = x >= 0 ? pqk_requantize(x, params->identity_multiplier, params->identity_shift)
                                 : pqk_requantize(x, params->alpha_multiplier, params->alpha_shift);
        output[i] = pqk_clamp_s16(y, INT16_MIN, INT16_MAX);
    }
}
