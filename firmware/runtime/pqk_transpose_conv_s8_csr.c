/* pqk_transpose_conv_s8_csr: pqk_transpose_conv_s8 with the filter in CSR, the same bytes; the products
 * skip the zeros. The CSR rows are the filter's taps [output_c][filter_h][filter_w] over input_c columns;
 * each output pixel walks them all in order, the taps that miss the input skipped a row at a time.
 */
#include <stddef.h>

#include "pqk_requantize.h"
#include "pqk_runtime.h"

void pqk_transpose_conv_s8_csr(const pqk_transpose_conv_s8_params_t *params, const pqk_csr_s8_t *filter,
                               const int8_t *input, int8_t *output)
{
    const int32_t in_c = params->input_c;
    int32_t b, oy, ox, oc, fy, fx;
    for (b = 0; b < params->batches; ++b) {
        const int8_t *image = input + b * params->input_h * params->input_w * in_c;
        for (oy = 0; oy < params->output_h; ++oy) {
            for (ox = 0; ox < params->output_w; ++ox) {
                uint32_t k = 0;
                int32_t row = 0;
                for (oc = 0; oc < params->output_c; ++oc) {
                    uint32_t acc = params->bias != NULL ? (uint32_t)params->bias[oc] : 0u;
                    for (fy = 0; fy < params->filter_h; ++fy) {
                        const int32_t dy = oy + params->pad_h - fy;
                        const int32_t row_inside = dy >= 0 && dy % params->stride_h == 0
                                                   && dy / params->stride_h < params->input_h;
                        for (fx = 0; fx < params->filter_w; ++fx, ++row) {
                            const int32_t dx = ox + params->pad_w - fx;
                            const uint32_t end = pqk_csr_row_end(filter, row, k);
                            if (row_inside && dx >= 0 && dx % params->stride_w == 0
                                && dx / params->stride_w < params->input_w) {
                                const int8_t *pixel = image + ((dy / params->stride_h) * params->input_w
                                                               + dx / params->stride_w) * in_c;
                                for (; k < end; ++k) {
                                    acc += (uint32_t)(filter->values[k]
                                                      * (pixel[pqk_csr_column(filter, k)] - params->input_zero_point));
                                }
                            }
                            k = end;
                        }
                    }
                    const int32_t scaled = pqk_requantize((int32_t)acc, params->multiplier[oc], params->shift[oc])
                                           + params->output_zero_point;
                    *output++ = pqk_clamp_s8(scaled, params->activation_min, params->activation_max);
                }
            }
        }
    }
}
