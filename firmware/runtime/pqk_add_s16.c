/* pqk_add_s16: 16x8 ADD with 4-D broadcasting (TFLite Micro's int16 general path).
 *
 * input1, input2 int16 read through params->shape strides; output [d0][d1][d2][d3] int16.
 * The int8 ADD kernel's arithmetic with left_shift 15: each input is shifted left and rescaled to a
 * common scale; input1 + input2 is requantized to the output and clamped to
 * [activation_min, activation_max].
 */
#include "pqk_requantize.h"
#include "pqk_runtime.h"

void pqk_add_s16(const pqk_add_s8_params_t *params, const int16_t *input1, const int16_t *input2, int16_t *output)
{
    const pqk_broadcast_t *shape = &params->shape;
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < shape->output_shape[0]; ++i0) {
        for (i1 = 0; i1 < shape->output_shape[1]; ++i1) {
            for (i2 = 0; i2 < shape->output_shape[2]; ++i2) {
                const int16_t *a = input1 + i0 * shape->input1_strides[0] + i1 * shape->input1_strides[1]
                                   + i2 * shape->input1_strides[2];
                const int16_t *b = input2 + i0 * shape->input2_strides[0] + i1 * shape->input2_strides[1]
                                   + i2 * shape->input2_strides[2];
                for (i3 = 0; i3 < shape->output_shape[3]; ++i3) {
                    const int32_t shifted1 = (a[i3 * shape->input1_strides[3]] + params->input1_offset)
                                             * (1 << params->left_shift);
                    const int32_t shifted2 = (b[i3 * shape->input2_strides[3]] + params->input2_offset)
                                             * (1 << params->left_shift);
                    const int32_t scaled1 = pqk_requantize(shifted1, params->input1_multiplier, params->input1_shift);
                    const int32_t scaled2 = pqk_requantize(shifted2, params->input2_multiplier, params->input2_shift);
                    const int32_t sum = pqk_requantize(scaled1 + scaled2, params->output_multiplier,
                                                       params->output_shift)
                                        + params->output_zero_point;
                    *output++ = pqk_clamp_s16(sum, params->activation_min, params->activation_max);
                }
            }
        }
    }
}
