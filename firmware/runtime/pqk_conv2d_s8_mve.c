/* pqk_conv2d_s8_mve: int8 CONV_2D, dense weights in row chunks, Helium (MVE).
 *
 * input   [batches][input_h][input_w][input_c]     int8
 * weights row chunks of the [output_c][filter_h * filter_w * input_c] matrix
 *         (pqk_mcu.codegen.weights.encode_row_chunks: rows in groups of PQK_MVE_ROWS = 3, each group
 *         as column chunks of 16, each chunk as its rows' 16 bytes; rows and columns zero-padded)
 * output  [batches][output_h][output_w][output_c]  int8 in [activation_min, activation_max]
 * scratch pqk_conv2d_s8_mve_buffer_size() bytes.
 * Same bytes as pqk_conv2d_s8, for any requantization (pqk_mve.h's exact vector form).
 *
 * Two output pixels at a time: their im2col rows (the input pixels themselves for 1x1 filters; else
 * built with predicated vector copies of each filter row's span, padding = input_zero_point) are
 * copied into scratch interleaved by 16-byte chunks, and pqk_mve.h's pqk_mve_rows_x_pixels() runs
 * every group of three output channels over them in one assembly loop (VMLADAVA.S8, 16 MACs per
 * instruction, 6 per chunk: 96 MACs in 12 instructions), keeping the sums in scratch; then each
 * pixel's channels are requantized four at a time (per-channel vectors, one narrowing store). A
 * block's rows are in scratch before its outputs are written, so a 1x1 stride-1 convolution with
 * output_c == input_c may run in place (output == input).
 */
#include "pqk_dsp.h"
#include "pqk_mve.h"

#define PIXELS 2

static int32_t columns_of(const pqk_window_t *win)
{
    return win->filter_h * win->filter_w * win->input_c;
}

/* The block of two pixels' columns (rounded up to 16), the sums of two pixels, for filters larger
 * than 1x1 one im2col row. */
int32_t pqk_conv2d_s8_mve_buffer_size(const pqk_conv2d_s8_params_t *params)
{
    const pqk_window_t *win = &params->window;
    const int32_t row_bytes = (columns_of(win) + 15) & ~15;
    const int32_t im2col = win->filter_h == 1 && win->filter_w == 1 ? 0 : row_bytes;
    return PIXELS * row_bytes + pqk_mve_sums_bytes(win->output_c) + im2col;
}

#if PQK_HAVE_MVE

/* The im2col row of output pixel `pixel` ((fh, fw, ic) order, padded taps = zero point) into row.
 * A filter row's span is copied at once when it is one vector (up to 16 bytes: micro_speech's 10x8
 * filter over one channel has eight), else chunk by chunk. Locals hold the geometry: the byte
 * stores could alias *win as far as the compiler knows. */
static void im2col_row(const pqk_window_t *win, int8_t zero_point, const int8_t *input, int32_t pixel, int8_t *row)
{
    const int32_t channels = win->input_c, input_w = win->input_w, input_h = win->input_h;
    const int32_t filter_h = win->filter_h, filter_w = win->filter_w;
    const int32_t dilation_h = win->dilation_h, dilation_w = win->dilation_w;
    int32_t iy0, ix0;
    const int8_t *const image = pqk_window_origin(win, input, pixel, &iy0, &ix0);
    const int32_t span = filter_w * channels;
    const int8x16_t padding = vdupq_n_s8(zero_point);
    /* dilation_w 1: taps ix0 + [first, last) of a filter row are inside the input */
    const int32_t first = ix0 < 0 ? (-ix0 < filter_w ? -ix0 : filter_w) : 0;
    const int32_t last = input_w - ix0 < filter_w ? input_w - ix0 : filter_w;
    const int32_t inside = last > first ? (last - first) * channels : 0;
    const mve_pred16_t span_lanes = vctp8q((uint32_t)span), inside_lanes = vctp8q((uint32_t)inside);
    int32_t fy, fx;
    for (fy = 0; fy < filter_h; ++fy) {
        const int32_t iy = iy0 + fy * dilation_h;
        int8_t *const out = row + fy * span;
        if (iy < 0 || iy >= input_h) {
            pqk_mve_fill(out, padding, span);
        } else if (dilation_w == 1 && span <= 16) {
            if (inside < span) {
                vstrbq_p_s8(out, padding, span_lanes);
            }
            if (inside > 0) {
                const int8_t *const source = image + (iy * input_w + ix0 + first) * channels;
                vstrbq_p_s8(out + first * channels, vldrbq_z_s8(source, inside_lanes), inside_lanes);
            }
        } else if (dilation_w == 1) {
            if (inside < span) {
                pqk_mve_fill(out, padding, span);
            }
            if (inside > 0) {
                pqk_mve_copy(out + first * channels, image + (iy * input_w + ix0 + first) * channels, inside);
            }
        } else {
            for (fx = 0; fx < filter_w; ++fx) {
                const int32_t ix = ix0 + fx * dilation_w;
                if (ix >= 0 && ix < input_w) {
                    pqk_mve_copy(out + fx * channels, image + (iy * input_w + ix) * channels, channels);
                } else {
                    pqk_mve_fill(out + fx * channels, padding, channels);
                }
            }
        }
    }
}

void pqk_conv2d_s8_mve(const pqk_conv2d_s8_params_t *params, const int8_t *weights, const int8_t *input,
                       int8_t *output, int8_t *scratch)
{
    const pqk_window_t *win = &params->window;
    const int32_t columns = columns_of(win);
    const int32_t row_bytes = (columns + 15) & ~15;
    const int32_t pixels = win->batches * win->output_h * win->output_w;
    const int32_t out_c = win->output_c;
    const int pointwise = win->filter_h == 1 && win->filter_w == 1;
    const int8_t zero_point = (int8_t)params->input_zero_point;
    int32_t *const sums = (int32_t *)(void *)(scratch + PIXELS * row_bytes);
    int8_t *const temp = scratch + PIXELS * row_bytes + pqk_mve_sums_bytes(out_c);
    int32_t first, lane;
    for (first = 0; first < pixels; first += PIXELS) {
        const int32_t count = pixels - first < PIXELS ? pixels - first : PIXELS;
        for (lane = 0; lane < count; ++lane) {
            const int8_t *row = temp;
            if (pointwise) {
                row = pqk_im2col_row(win, zero_point, input, first + lane, temp);
            } else {
                im2col_row(win, zero_point, input, first + lane, temp);
            }
            pqk_mve_interleave_row(row, columns, scratch + 16 * lane, 16 * count);
        }
        pqk_mve_rows_x_pixels(&params->requant, weights, 1, out_c, row_bytes >> 4, scratch, count,
                              output + first * out_c, out_c, sums);
    }
}

#endif /* PQK_HAVE_MVE */
