/* pqk_depthwise_conv2d_s16: 16x8 DEPTHWISE_CONV_2D with dense weights (TFLite Micro's
 * DepthwiseConvPerChannel for int16 input: int64 bias and accumulators).
 *
 * input  [batches][input_h][input_w][input_c]                         int16, zero point 0
 * weights [filter_h][filter_w][output_c], output_c = input_c * depth_multiplier, symmetric int8
 * output [batches][output_h][output_w][output_c], oc = ic * depth_multiplier + m
 * acc = bias + sum(w * x) in int64, padded taps contributing nothing; per-channel pqk_requantize_s64.
 */
#include "pqk_requantize.h"
#include "pqk_runtime.h"

void pqk_depthwise_conv2d_s16(const pqk_depthwise_conv2d_s16_params_t *params, const int8_t *weights,
                              const int16_t *input, int16_t *output)
{
    const pqk_window_t *win = &params->window;
    int32_t b, oy, ox, oc, fy, fx;
    for (b = 0; b < win->batches; ++b) {
        const int16_t *image = input + b * win->input_h * win->input_w * win->input_c;
        for (oy = 0; oy < win->output_h; ++oy) {
            const int32_t iy0 = oy * win->stride_h - win->pad_top;
            for (ox = 0; ox < win->output_w; ++ox) {
                const int32_t ix0 = ox * win->stride_w - win->pad_left;
                for (oc = 0; oc < win->output_c; ++oc) {
                    const int32_t ic = oc / params->depth_multiplier;
                    int64_t acc = params->bias[oc];
                    for (fy = 0; fy < win->filter_h; ++fy) {
                        const int32_t iy = iy0 + fy * win->dilation_h;
                        if (iy < 0 || iy >= win->input_h) {
                            continue;
                        }
                        for (fx = 0; fx < win->filter_w; ++fx) {
                            const int32_t ix = ix0 + fx * win->dilation_w;
                            if (ix >= 0 && ix < win->input_w) {
                                acc += (int32_t)weights[(fy * win->filter_w + fx) * win->output_c + oc]
                                       * (int32_t)image[(iy * win->input_w + ix) * win->input_c + ic];
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
