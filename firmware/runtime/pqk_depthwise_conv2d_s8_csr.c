/* pqk_depthwise_conv2d_s8_csr: int8 DEPTHWISE_CONV_2D with CSR weights.
 *
 * input  [batches][input_h][input_w][input_c]                         int8
 * weights CSR [output_c][filter_h * filter_w], column fh * filter_w + fw
 * output [batches][output_h][output_w][output_c], oc = ic * depth_multiplier + m
 * scratch pqk_depthwise_conv2d_s8_csr_buffer_size() bytes (NULL where that is 0).
 * Same result as pqk_depthwise_conv2d_s8 on the dense filter.
 *
 * In place (output == input), allowed where the buffer size is not 0: output_h <= input_h and no
 * output row longer than an input row (any stride, depth multiplier, dilation). Output row r then
 * covers input rows up to r only, and no output row after r + pad_top reads those, so each output
 * row waits in a ring of pad_top + 1 output rows in scratch and goes to its place once the rows
 * under it are read; the taps read the input as they do out of place (no cost per tap).
 */
#include <string.h>

#include "pqk_requantize.h"
#include "pqk_runtime.h"

int32_t pqk_depthwise_conv2d_s8_csr_buffer_size(const pqk_depthwise_conv2d_s8_params_t *params)
{
    const pqk_window_t *win = &params->window;
    const int32_t output_row = win->output_w * win->output_c;
    const int in_place = win->output_h <= win->input_h && output_row <= win->input_w * win->input_c;
    return in_place ? (win->pad_top + 1) * output_row : 0;
}

void pqk_depthwise_conv2d_s8_csr(const pqk_depthwise_conv2d_s8_params_t *params, const pqk_csr_s8_t *weights,
                                 const int8_t *input, int8_t *output, int8_t *scratch)
{
    const pqk_window_t *win = &params->window;
    const pqk_requant_s8_t *rq = &params->requant;
    const int in_place = output == input;
    const int32_t output_row = win->output_w * win->output_c;
    const int32_t ring_rows = win->pad_top + 1;
    int8_t *next_row = output; /* where the next output row goes */
    int32_t b, oy, ox, oc;
    for (b = 0; b < win->batches; ++b) {
        const int8_t *image = input + b * win->input_h * win->input_w * win->input_c;
        for (oy = 0; oy < win->output_h; ++oy) {
            const int32_t iy0 = oy * win->stride_h - win->pad_top;
            int8_t *out = next_row;
            if (in_place) {
                /* the slot's row, ring_rows above this one, lies over input rows no output row reads any more */
                out = scratch + (oy % ring_rows) * output_row;
                if (oy >= ring_rows) {
                    memcpy(next_row - ring_rows * output_row, out, (size_t)output_row);
                }
            }
            next_row += output_row;
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
                    *out++ = pqk_clamp_s8(acc, rq->activation_min, rq->activation_max);
                }
            }
        }
        if (in_place) {
            /* the rows still in the ring: the last ring_rows (or all of them) */
            for (oy = win->output_h > ring_rows ? win->output_h - ring_rows : 0; oy < win->output_h; ++oy) {
                memcpy(next_row - (win->output_h - oy) * output_row, scratch + (oy % ring_rows) * output_row,
                       (size_t)output_row);
            }
        }
    }
}
