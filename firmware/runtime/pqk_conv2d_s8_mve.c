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
 * Two output pixels at a time: their im2col rows are copied into scratch chunk by chunk,
 * interleaved ([chunk][pixel][16 bytes]), and pqk_mve.h's pqk_mve_rows_x_pixels() runs each group
 * of three output channels over them with VMLADAVA.S8 (16 MACs per instruction, 6 per chunk: 96
 * MACs in 12 instructions). The six sums become two vectors (three channels of one pixel each),
 * requantized with the group's per-channel vectors and stored with one narrowing, predicated
 * store per pixel. The block's rows are in scratch before its outputs are written, so a 1x1
 * stride-1 convolution with output_c == input_c may run in place (output == input).
 */
#include "pqk_dsp.h"
#include "pqk_mve.h"

#if PQK_HAVE_MVE

#define PIXELS 2

static int32_t columns_of(const pqk_window_t *win)
{
    return win->filter_h * win->filter_w * win->input_c;
}

/* The interleaved block of two pixels (columns rounded up to 16) + for filters larger than 1x1 one
 * im2col row. */
int32_t pqk_conv2d_s8_mve_buffer_size(const pqk_conv2d_s8_params_t *params)
{
    const pqk_window_t *win = &params->window;
    const int32_t block = PIXELS * ((columns_of(win) + 15) & ~15);
    return win->filter_h == 1 && win->filter_w == 1 ? block : block + columns_of(win);
}

void pqk_conv2d_s8_mve(const pqk_conv2d_s8_params_t *params, const int8_t *weights, const int8_t *input,
                       int8_t *output, int8_t *scratch)
{
    const pqk_window_t *win = &params->window;
    const int32_t columns = columns_of(win);
    const int32_t chunks = (columns + 15) >> 4;
    const int32_t pixels = win->batches * win->output_h * win->output_w;
    const int32_t out_c = win->output_c;
    int8_t *const temp = scratch + PIXELS * 16 * chunks;
    int32_t first, lane;
    for (first = 0; first < pixels; first += PIXELS) {
        const int32_t count = pixels - first < PIXELS ? pixels - first : PIXELS;
        for (lane = 0; lane < count; ++lane) {
            const int8_t *row = pqk_im2col_row(win, params->input_zero_point, input, first + lane, temp);
            pqk_mve_interleave_row(row, columns, scratch + 16 * lane, 16 * count);
        }
        pqk_mve_rows_x_pixels(&params->requant, weights, 1, out_c, chunks, scratch, count,
                              output + first * out_c, out_c);
    }
}

#endif /* PQK_HAVE_MVE */
