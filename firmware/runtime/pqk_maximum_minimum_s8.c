/* pqk_maximum_minimum_s8: int8 MAXIMUM or MINIMUM with 4-D broadcasting (TFLite int8 semantics).
 *
 * input1, input2 int8 read through params->shape strides; output [d0][d1][d2][d3] int8, the larger
 * (params->maximum) or the smaller of the two raw values: inputs and output share one quantization.
 */
#include "pqk_runtime.h"

void pqk_maximum_minimum_s8(const pqk_maximum_minimum_s8_params_t *params, const int8_t *input1,
                            const int8_t *input2, int8_t *output)
{
    const pqk_broadcast_t *shape = &params->shape;
    const int32_t maximum = params->maximum;
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < shape->output_shape[0]; ++i0) {
        for (i1 = 0; i1 < shape->output_shape[1]; ++i1) {
            for (i2 = 0; i2 < shape->output_shape[2]; ++i2) {
                const int8_t *a = input1 + i0 * shape->input1_strides[0] + i1 * shape->input1_strides[1]
                                  + i2 * shape->input1_strides[2];
                const int8_t *b = input2 + i0 * shape->input2_strides[0] + i1 * shape->input2_strides[1]
                                  + i2 * shape->input2_strides[2];
                for (i3 = 0; i3 < shape->output_shape[3]; ++i3) {
                    const int8_t x1 = a[i3 * shape->input1_strides[3]];
                    const int8_t x2 = b[i3 * shape->input2_strides[3]];
                    *output++ = (x1 > x2) == (maximum != 0) ? x1 : x2;
                }
            }
        }
    }
}
