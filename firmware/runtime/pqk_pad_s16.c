/* pqk_pad_s16: PAD a 4-D int16 tensor (16x8 models) with a constant.
 *
 * input  [s0][s1][s2][s3] int16
 * output [pad_before[d] + s_d + pad_after[d]] per dimension d, pad_value outside the input.
 */
#include "pqk_runtime.h"

void pqk_pad_s16(const pqk_pad_s8_params_t *params, const int16_t *input, int16_t *output)
{
    const int32_t *in = params->input_shape;
    const int32_t *before = params->pad_before;
    int32_t out[4];
    int32_t d, o0, o1, o2, o3;
    const int16_t pad = (int16_t)params->pad_value;
    for (d = 0; d < 4; ++d) {
        out[d] = before[d] + in[d] + params->pad_after[d];
    }
    for (o0 = 0; o0 < out[0]; ++o0) {
        const int32_t i0 = o0 - before[0];
        for (o1 = 0; o1 < out[1]; ++o1) {
            const int32_t i1 = o1 - before[1];
            for (o2 = 0; o2 < out[2]; ++o2) {
                const int32_t i2 = o2 - before[2];
                const int row_inside = i0 >= 0 && i0 < in[0] && i1 >= 0 && i1 < in[1] && i2 >= 0 && i2 < in[2];
                const int16_t *row = input + ((i0 * in[1] + i1) * in[2] + i2) * in[3];
                for (o3 = 0; o3 < out[3]; ++o3) {
                    const int32_t i3 = o3 - before[3];
                    *output++ = (row_inside && i3 >= 0 && i3 < in[3]) ? row[i3] : pad;
                }
            }
        }
    }
}
