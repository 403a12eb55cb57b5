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

/* Adds the four channels of n pixels, step bytes apart, to *even (channels 0, 2) and *odd (1, 3);
 * four pixels per iteration (the loop test and pointer step cost as much as a pixel). */
static inline __attribute__((always_inline)) void add_run(const int8_t *pixel, int32_t n, int32_t step,
                                                          uint32_t *even, uint32_t *odd)
{
    const int8_t *const quads_end = pixel + (n & ~3) * step;
    uint32_t sum_even = *even, sum_odd = *odd;
    int32_t i;
    while (pixel != quads_end) {
        const int8_t *const third = pixel + 2 * step;
        const uint32_t p0 = pqk_load_s8x4(pixel), p1 = pqk_load_s8x4(pixel + step);
        const uint32_t p2 = pqk_load_s8x4(third), p3 = pqk_load_s8x4(third + step);
        sum_even = pqk_sxtab16(pqk_sxtab16(pqk_sxtab16(pqk_sxtab16(sum_even, p0), p1), p2), p3);
        sum_odd = pqk_sxtab16_ror8(pqk_sxtab16_ror8(pqk_sxtab16_ror8(pqk_sxtab16_ror8(sum_odd, p0), p1), p2), p3);
        pixel = third + 2 * step;
    }
    for (i = 0; i < (n & 3); ++i) {
        const uint32_t last = pqk_load_s8x4(pixel);
        sum_even = pqk_sxtab16(sum_even, last);
        sum_odd = pqk_sxtab16_ror8(sum_odd, last);
        pixel += step;
    }
    *even = sum_even;
    *odd = sum_odd;
}

void pqk_avg_pool2d_s8_dsp(const pqk_pool2d_s8_params_t *params, const int8_t *input, int8_t *output)
{
    const pqk_window_t *win = &params->window;
    const int32_t channels = win->output_c, input_w = win->input_w;
    const int32_t activation_min = params->activation_min, activation_max = params->activation_max;
    int32_t b, oy, ox, c, y;
    for (b = 0; b < win->batches; ++b) {
        const int8_t *image = input + b * win->input_h * input_w * channels;
        for (oy = 0; oy < win->output_h; ++oy) {
            int32_t y_start, y_end;
            pqk_window_span(oy * win->stride_h - win->pad_top, win->filter_h, win->input_h, &y_start, &y_end);
            for (ox = 0; ox < win->output_w; ++ox) {
                int32_t x_start, x_end;
                pqk_window_span(ox * win->stride_w - win->pad_left, win->filter_w, input_w, &x_start, &x_end);
                const int32_t count = (y_end - y_start) * (x_end - x_start);
                /* a window of whole input rows is one run of pixels (global pooling), else one run per row */
                const int whole_rows = x_start == 0 && x_end == input_w;
                const int32_t runs = whole_rows ? 1 : y_end - y_start;
                const int32_t length = whole_rows ? count : x_end - x_start;
                for (c = 0; c < channels; c += 4) {
                    uint32_t even = 0, odd = 0; /* channels (c, c + 2) and (c + 1, c + 3) */
                    int32_t sums[4], i;
                    for (y = 0; y < runs; ++y) {
                        add_run(image + ((y_start + y) * input_w + x_start) * channels + c, length, channels, &even,
                                &odd);
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
