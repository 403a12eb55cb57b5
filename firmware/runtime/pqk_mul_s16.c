/* pqk_mul_s16: 16x8 MUL with 4-D broadcasting (TFLite Micro's int16 Mul: zero points 0).
 *
 * input1, input2 int16 read through params->shape strides; output [d0][d1][d2][d3] int16.
 * output = clamp(requantize(x1 * x2)); the product of two int16 values fits int32. The offsets and the
 * output zero point of pqk_mul_s8_params_t are 0 and not read.
 */
#include "pqk_requantize.h"
#include "pqk_runtime.h"

void pqk_mul_s16(const pqk_mul_s8_params_t *params, const int16_t *input1, const int16_t *input2, int16_t *output)
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
                    const int32_t product = (int32_t)a[i3 * shape->input1_strides[3]] * b[i3 * shape->input2_strides[3]];
                    *output++ = pqk_clamp_s16(pqk_requantize(product, params->output_multiplier, params->output_shift),
                                              params->activation_min, params->activation_max);
                }
            }
        }
    }
}
