/* pqk_avg_pool2d_s8: int8 AVERAGE_POOL_2D (input and output share scale and zero point).
 *
 * input  [batches][input_h][input_w][channels]    int8
 * output [batches][output_h][output_w][channels]  int8 in [activation_min, activation_max]
 * Averages the taps inside the input (padding is not counted), rounding half away from zero.
 */
#include "pqk_requantize.h"
#include "pqk_runtime.h"

void pqk_avg_pool2d_s8(const pqk_pool2d_s8_params_t *params, const int8_t *input, int8_t *output)
{
    const pqk_window_t *win = &params->window;
    const int32_t channels = win->output_c;
    int32_t b, oy, ox, c, y, x;
    for (b = 0; b < win->batches; ++b) {
        const int8_t *image = input + b * win->input_h * win->input_w * channels;
        for (oy = 0; oy < win->output_h; ++oy) {
            int32_t y_start, y_end;
            pqk_window_span(oy * win->stride_h - win->pad_top, win->filter_h, win->input_h, &y_start, &y_end);
            for (ox = 0; ox < win->output_w; ++ox) {
                int32_t x_start, x_end;
                pqk_window_span(ox * win->stride_w - win->pad_left, win->filter_w, win->input_w, &x_start, &x_end);
                const int32_t count = (y_end - y_start) * (x_end - x_start);
                for (c = 0; c < channels; ++c) {
                    int32_t acc = 0;
                    for (y = y_start; y < y_end; ++y) {
                        for (x = x_start; x < x_end; ++x) {
                            acc += image[(y * win->input_w + x) * channels + c];
                        }
                    }
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    *output++ = pqk_clamp_s8(acc, params->activation_min, params->activation_max);
                }
            }
        }
    }
}
