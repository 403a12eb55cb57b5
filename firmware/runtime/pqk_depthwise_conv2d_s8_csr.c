/* pqk_depthwise_conv2d_s8_csr: int8 DEPTHWISE_CONV_2D with CSR weights.
 *
 * input  [batches][input_h][input_w][input_c]                         int8
 * weights CSR [output_c][filter_h * filter_w], column fh * filter_w + fw
 * output [batches][output_h][output_w][output_c], oc = ic * depth_multiplier + m
 * Same result as pqk_depthwise_conv2d_s8 on the dense filter.
 */
#include "pqk_requantize.h"
#include "pqk_runtime.h"

void pqk_depthwise_conv2d_s8_csr(const pqk_depthwise_conv2d_s8_params_t *params, const pqk_csr_s8_t *weights,
                                 const int8_t *input, int8_t *output)
{
    const pqk_window_t *win = &params->window;
    const pqk_requant_s8_t *rq = &params->requant;
    int32_t b, oy, ox, oc;
    for (b = 0; b < win->batches; ++b) {
        const int8_t *image = input + b * win->input_h * win->input_w * win->input_c;
        for (oy = 0; oy < win->output_h; ++oy) {
            const int32_t iy0 = oy * win->stride_h - win->pad_top;
            for (ox = 0; ox < win->output_w; ++ox) {
                const int32_t ix0 = ox * win->stride_w - win->pad_left;
                uint32_t k = 0; /* the rows follow one another: each starts where the last ended */
                for (oc = 0; oc < win->output_c; ++oc) {
                    const int32_t ic = oc / params->depth_multiplier;
                    const uint32_t end = pqk_csr_row_end(weights, oc, k);
                    int32_t acc = rq->bias[oc];
                    for (; k < end; ++k) {
                        const int32_t col = pqk_csr_column(weights, k);
                        const int32_t fy = col / win->filter_w;
                        const int32_t iy = iy0 + fy * win->dilation_h;
                        const int32_t ix = ix0 + (col - fy * win->filter_w) * win->dilation_w;
                        if (iy >= 0 && iy < win->input_h && ix >= 0 && ix < win->input_w) {
                            acc += (int32_t)weights->values[k] * (int32_t)image[(iy * win->input_w + ix) * win->input_c + ic];
                        } else {
                            acc += (int32_t)weights->values[k] * params->input_zero_point;
                        }
                    }
                    acc = pqk_requantize(acc, rq->multiplier[oc], rq->shift[oc]) + rq->output_zero_point;
                    *output++ = pqk_clamp_s8(acc, rq->activation_min, rq->activation_max);
                }
            }
        }
    }
}
