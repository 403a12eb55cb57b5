/* pqk_avg_pool2d_s8_dsp: int8 AVERAGE_POOL_2D, DSP extension (SXTAB16 sums four channels at once).
 *
 * input  [batches][input_h][input_w][channels]    int8, channels a multiple of 4
 * output [batches][output_h][output_w][channels]  int8 in [activation_min, activation_max]
 * Same bytes as pqk_avg_pool2d_s8 (taps in the padding not counted, rounding half away from zero)
 * for windows of at most 256 taps, where the sums fit the int16 halves of SXTAB16.
 */
#include "pqk_dsp.h"
#include "pqk_requantize.h"

static int32_t rounded_mean(int32_t sum, int32_t count)
{
    return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

void pqk_avg_pool2d_s8_dsp(const pqk_pool2d_s8_params_t *params, const int8_t *input, int8_t *output)
{
    const pqk_window_t *win = &params->window;
    const int32_t channels = win->output_c;
    const int32_t activation_min = params->activation_min, activation_max = params->activation_max;
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
                for (c = 0; c < channels; c += 4) {
                    uint32_t even = 0, odd = 0; /* channels (c, c + 2) and (c + 1, c + 3) */
                    int32_t sums[4], i;
                    for (y = y_start; y < y_end; ++y) {
                        const int8_t *pixel = image + (y * win->input_w + x_start) * channels + c;
                        for (x = x_start; x < x_end; ++x) {
                            const uint32_t word = pqk_load_s8x4(pixel);
                            even = pqk_sxtab16(even, word);
                            odd = pqk_sxtab16_ror8(odd, word);
                            pixel += channels;
                        }
                    }
                    sums[0] = (int16_t)(even & 0xFFFFu);
                    sums[1] = (int16_t)(odd & 0xFFFFu);
                    sums[2] = (int16_t)(even >> 16);
                    sums[3] = (int16_t)(odd >> 16);
                    for (i = 0; i < 4; ++i) {
                        output[c + i] = pqk_clamp_s8(rounded_mean(sums[i], count), activation_min, activation_max);
                    }
                }
                output += channels;
            }
        }
    }
}
