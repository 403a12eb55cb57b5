/* pqk_conv2d_s16_csr: 16x8 CONV_2D with CSR weights, one row per output channel.
 *
 * input  [batches][input_h][input_w][input_c]     int16, zero point 0
 * weights CSR [output_c][filter_h * filter_w * input_c], column (fh * filter_w + fw) * input_c + ic
 * output [batches][output_h][output_w][output_c]  int16 in [activation_min, activation_max]
 * Same result as pqk_conv2d_s16 on the dense matrix. Columns ascend within a row, so the kernel walks
 * the filter taps alongside the nonzeros instead of dividing column indices.
 */
#include "pqk_requantize.h"
#include "pqk_runtime.h"

void pqk_conv2d_s16_csr(const pqk_conv2d_s16_params_t *params, const pqk_csr_s8_t *weights, const int16_t *input,
                        int16_t *output)
{
    const pqk_window_t *win = &params->window;
    int32_t b, oy, ox, oc;
    for (b = 0; b < win->batches; ++b) {
        const int16_t *image = input + b * win->input_h * win->input_w * win->input_c;
        for (oy = 0; oy < win->output_h; ++oy) {
            const int32_t iy0 = oy * win->stride_h - win->pad_top;
            for (ox = 0; ox < win->output_w; ++ox) {
                const int32_t ix0 = ox * win->stride_w - win->pad_left;
                uint32_t k = 0; /* the rows follow one another: each starts where the last ended */
                for (oc = 0; oc < win->output_c; ++oc) {
                    const uint32_t end = pqk_csr_row_end(weights, oc, k);
                    int64_t acc = params->bias[oc];
                    /* Current tap (fy, fx) and the first column that belongs to the next tap. */
                    int32_t fy = 0, fx = 0, tap_end = win->input_c;
                    for (; k < end; ++k) {
                        const int32_t col = pqk_csr_column(weights, k);
                        int32_t iy, ix;
                        while (col >= tap_end) {
                            tap_end += win->input_c;
                            if (++fx == win->filter_w) {
                                fx = 0;
                                ++fy;
                            }
                        }
                        iy = iy0 + fy * win->dilation_h;
                        ix = ix0 + fx * win->dilation_w;
                        if (iy >= 0 && iy < win->input_h && ix >= 0 && ix < win->input_w) {
                            const int32_t ic = col - (tap_end - win->input_c);
                            acc += (int32_t)weights->values[k] * (int32_t)image[(iy * win->input_w + ix) * win->input_c + ic];
                        }
                    }
                    *output++ = pqk_clamp_s16(pqk_requantize_s64(acc, params->multiplier[oc], params->shift[oc]),
                                              params->activation_min, params->activation_max);
                }
            }
        }
    }
}
