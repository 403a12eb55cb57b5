/* pqk_transpose_conv_s16: 16x8 TRANSPOSE_CONV, NHWC (TFLite Micro's reference_integer_ops::TransposeConv
 * with an int64 scratch buffer and bias).
 *
 * Gathers like pqk_transpose_conv_s8: output pixel (oy, ox) takes filter tap (fy, fx) from input pixel
 * ((oy + pad_h - fy) / stride_h, ...) when that division is exact and inside the input. The int64 sums
 * cannot overflow (|input x filter| < 2^22 per tap), so their order does not matter.
 */
#include <stddef.h>

#include "pqk_requantize.h"
#include "pqk_runtime.h"

void pqk_transpose_conv_s16(const pqk_transpose_conv_s16_params_t *params, const int16_t *input, int16_t *output)
{
    const int32_t in_c = params->input_c;
    int32_t b, oy, ox, oc, fy, fx, c;
    for (b = 0; b < params->batches; ++b) {
        const int16_t *image = input + b * params->input_h * params->input_w * in_c;
        for (oy = 0; oy < params->output_h; ++oy) {
            for (ox = 0; ox < params->output_w; ++ox) {
                for (oc = 0; oc < params->output_c; ++oc) {
                    int64_t acc = params->bias != NULL ? params->bias[oc] : 0;
                    for (fy = 0; fy < params->filter_h; ++fy) {
                        const int32_t dy = oy + params->pad_h - fy;
                        if (dy < 0 || dy % params->stride_h != 0 || dy / params->stride_h >= params->input_h) {
                            continue;
                        }
                        for (fx = 0; fx < params->filter_w; ++fx) {
                            const int32_t dx = ox + params->pad_w - fx;
                            if (dx < 0 || dx % params->stride_w != 0 || dx / params->stride_w >= params->input_w) {
                                continue;
                            }
                            const int16_t *pixel = image + ((dy / params->stride_h) * params->input_w
                                                            + dx / params->stride_w) * in_c;
                            const int8_t *taps =
                                params->filter + ((oc * params->filter_h + fy) * params->filter_w + fx) * in_c;
                            for (c = 0; c < in_c; ++c) {
                                acc += (int32_t)taps[c] * (int32_t)pixel[c]; /* one SMLAL on Cortex-M */
                            }
                        }
                    }
                    *output++ = pqk_clamp_s16(pqk_requantize_s64(acc, params->multiplier[oc], params->shift[oc]),
                                              params->activation_min, params->activation_max);
                }
            }
        }
    }
}
