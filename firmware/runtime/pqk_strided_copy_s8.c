/* pqk_strided_copy_s8: int8 TRANSPOSE, STRIDED_SLICE and each output of SPLIT / UNPACK as one strided gather.
 *
 * output [d0][d1][d2][d3] int8, written in order; each element is read from
 * input + input_offset + i0 * input_strides[0] + ... + i3 * input_strides[3] (strides in elements, may be
 * negative). Values move unchanged: input and output share quantization.
 */
#include "pqk_runtime.h"

void pqk_strided_copy_s8(const pqk_strided_copy_s8_params_t *params, const int8_t *input, int8_t *output)
{
    const int32_t *shape = params->output_shape;
    const int32_t *strides = params->input_strides;
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < shape[0]; ++i0) {
        for (i1 = 0; i1 < shape[1]; ++i1) {
            for (i2 = 0; i2 < shape[2]; ++i2) {
                const int8_t *row = input + params->input_offset + i0 * strides[0] + i1 * strides[1] + i2 * strides[2];
                for (i3 = 0; i3 < shape[3]; ++i3) {
                    *output++ = row[i3 * strides[3]];
                }
            }
        }
    }
}
