/* The one loop of the int8 ADD and SUB kernels: 4-D broadcasting (TFLite int8 semantics).
 *
 * input1, input2 int8 read through params->shape strides; output [d0][d1][d2][d3] int8. Each input is
 * offset, shifted left by left_shift and rescaled to a common scale; input1 + sign * input2 (sign +1 or -1,
 * a constant at each call so the multiply folds away) is requantized to the output and clamped to
 * [activation_min, activation_max].
 */
#ifndef PQK_ADD_SUB_S8_H
#define PQK_ADD_SUB_S8_H

#include "pqk_requantize.h"
#include "pqk_runtime.h"

static inline __attribute__((always_inline)) void pqk_add_sub_s8(const pqk_add_s8_params_t *params,
                                                                 const int8_t *input1, const int8_t *input2,
                                                                 int8_t *output, int32_t sign)
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
                    const int32_t shifted1 = (a[i3 * shape->input1_strides[3]] + params->input1_offset)
                                             * (1 << params->left_shift);
                    const int32_t shifted2 = (b[i3 * shape->input2_strides[3]] + params->input2_offset)
                                             * (1 << params->left_shift);
                    const int32_t scaled1 = pqk_requantize(shifted1, params->input1_multiplier, params->input1_shift);
                    const int32_t scaled2 = pqk_requantize(shifted2, params->input2_multiplier, params->input2_shift);
                    const int32_t result = pqk_requantize(scaled1 + sign * scaled2, params->output_multiplier,
                                                          params->output_shift)
                                           + params->output_zero_point;
                    *output++ = pqk_clamp_s8(result, params->activation_min, params->activation_max);
                }
            }
        }
    }
}

#endif
