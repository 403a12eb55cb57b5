/* pqk_depthwise_conv2d_s8: int8 DEPTHWISE_CONV_2D with dense weights.
 *
 * input  [batches][input_h][input_w][input_c]                         int8
 * weights [filter_h][filter_w][output_c], output_c = input_c * depth_multiplier, symmetric int8
 * output [batches][output_h][output_w][output_c], oc = ic * depth_multiplier + m
 * acc = folded bias + sum(w * x), padded taps reading input_zero_point; per-channel requantization.
 */
#include "pqk_requantize.h"
#include "pqk_runtime.h"

void pqk_depthwise_conv2d_s8(const pqk_depthwise_conv2d_s8_params_t *params, const int8_t *weights,
                             const int8_t *input, int8_t *output)
{
    const pqk_window_t *win = &params->window;
    const pqk_requant_s8_t *rq = &params->requant;
    int32_t b, oy, ox, oc, fy, fx;
    for (b = 0; b < win->batches; ++b) {
        const int8_t *image = input + b * win->input_h * win->input_w * win->input_c;
        for (oy = 0; oy < win->output_h; ++oy) {
            const int32_t iy0 = oy * win->stride_h - win->pad_top;
            for (ox = 0; ox < win->output_w; ++ox) {
                const int32_t ix0 = ox * win->stride_w - win->pad_left;
                for (oc = 0; oc < win->output_c; ++oc) {
                    const int32_t ic = oc / params->depth_multiplier;
                    int32_t acc = rq->bias[oc];
                    for (fy = 0; fy < win->filter_h; ++fy) {
                        const int32_t iy = iy0 + fy * win->dilation_h;
                        for (fx = 0; fx < win->filter_w; ++fx) {
                            const int32_t ix = ix0 + fx * win->dilation_w;
                            const int32_t w = weights[(fy * win->filter_w + fx) * win->output_c + oc];
                            if (iy >= 0 && iy < win->input_h && ix >= 0 && ix < win->input_w) {
                                acc += w * (int32_t)image[(iy * win->input_w + ix) * win->input_c + ic];
                            } else {
                                acc += w * params->input_zero_point;
                            }
                        }
                    }
                    acc = pqk_requantize(acc, rq->multiplier[oc], rq->shift[oc]) + rq->output_zero_point;
                    *output++ = pqk_clamp_s8(acc, rq->activation_min, rq->activation_max);
                }
            }
        }
    }
}
