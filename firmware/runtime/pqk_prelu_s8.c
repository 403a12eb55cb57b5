/* pqk_prelu_s8: int8 PRELU with 4-D broadcasting of the input and alpha (TFLite int8 semantics).
 *
 * input, alpha int8 read through params->shape strides; output [d0][d1][d2][d3] int8. A value at or
 * above the input zero point is requantized by the identity multiplier, one below is multiplied by its
 * alpha (both offset) and requantized by the alpha multiplier; then the output zero point is added and
 * the result clamped to int8.
 */
#include "pqk_requantize.h"
#include "pqk_runtime.h"

void pqk_prelu_s8(const pqk_prelu_s8_params_t *params, const int8_t *input, const int8_t *alpha, int8_t *output)
{
    const pqk_broadcast_t *shape = &params->shape;
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < shape->output_shape[0]; ++i0) {
        for (i1 = 0; i1 < shape->output_shape[1]; ++i1) {
            for (i2 = 0; i2 < shape->output_shape[2]; ++i2) {
                const int8_t *x = input + i0 * shape->input1_strides[0] + i1 * shape->input1_strides[1]
                                  + i2 * shape->input1_strides[2];
                const int8_t *a = alpha + i0 * shape->input2_strides[0] + i1 * shape->input2_strides[1]
                                  + i2 * shape->input2_strides[2];
                for (i3 = 0; i3 < shape->output_shape[3]; ++i3) {
                    const int32_t value = x[i3 * shape->input1_strides[3]] + params->input_offset;
                    const int32_t scaled =
                        value >= 0 ? pqk_requantize(value, params->identity_multiplier, params->identity_shift)
                                   : pqk_requantize(value * (a[i3 * shape->input2_strides[3]] + params->alpha_offset),
                                                    params->alpha_multiplier, params->alpha_shift);
                    *output++ = pqk_clamp_s8(scaled + params->output_zero_point, -128, 127);
                }
            }
        }
    }
}
