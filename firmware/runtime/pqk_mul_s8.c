/* pqk_mul_s8: int8 MUL with 4-D broadcasting (TFLite int8 semantics).
 *
 * input1, input2 int8 read through params->shape strides; output [d0][d1][d2][d3] int8.
 * output = clamp(requantize((x1 + offset1) * (x2 + offset2)) + output_zero_point).
 */
#include "pqk_requantize.h"
#include "pqk_runtime.h"

void pqk_mul_s8(const pqk_mul_s8_params_t *params, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const pqk_broadcast_t *shape = &params->shape;
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < shape->output_shape[0]; ++i0) {
        for (i1 = 0; i1 < shape->output_shape[1]; ++i1) {
            for (i2 = 0; i2 < shape->output_shape[2]; ++i2) {
                const int8_t *a = input1 + i0 * shape->input1_strides[0] + i1 * shape->input1_strides[1]
                                  + i2 * shape->input1_strides[2];
                const int8_t *b = input2 + i0 * shape->input2_strides[0] + i1 * shape->input2_strides[1]
                                  + i2 * shape->input2_strides[2];
                for (i3 = 0; i3 < shape->output_shape[3]; ++i3) {
                    const int32_t product = (a[i3 * shape->input1_strides[3]] + params->input1_offset)
                                            * (b[i3 * shape->input2_strides[3]] + params->input2_offset);
                    const int32_t value = pqk_requantize(product, params->output_multiplier, params->output_shift)
                                          + params->output_zero_point;
                    *output++ = pqk_clamp_s8(value, params->activation_min, params->activation_max);
                }
            }
        }
    }
}
