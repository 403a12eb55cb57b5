/* pqk_conv2d_s8_smlal: int8 CONV_2D, dense weights in channel pairs, for cores without the DSP extension.
 *
 * input  [batches][input_h][input_w][input_c]     int8
 * weights [(output_c + 1) / 2][columns rounded up to a multiple of 4] int32 channel-pair words
 *         (pqk_mla.h; column (fh * filter_w + fw) * input_c + ic; the padding columns and the missing
 *         odd channel of an odd output_c are 0), lanes that separate for int8 inputs
 * output [batches][output_h][output_w][output_c]  int8 in [activation_min, activation_max]
 * scratch pqk_conv2d_s8_smlal_buffer_size() bytes, 4-byte aligned.
 * Same bytes as pqk_conv2d_s8 (outputs outside pqk_dsp.h's fast-requantization bounds: PQK_FAST_CHECKED).
 *
 * Two output pixels at a time: their im2col rows widened to int32 in scratch, interleaved by column,
 * then per channel pair pqk_pair_dot2() (eight MACs per four SMLAL and two LDM). For a 1x1, stride-1
 * convolution with output_c == input_c, output may equal input (in place): a block's inputs are in
 * scratch before its outputs are written.
 */
#include "pqk_mla.h"

#define PIXELS 2

static int32_t columns_of(const pqk_window_t *win)
{
    return win->filter_h * win->filter_w * win->input_c;
}

static int32_t padded_columns_of(const pqk_window_t *win)
{
    return (columns_of(win) + 3) & ~3;
}

/* The widened block (two pixels, padded columns, int32) + for filters larger than 1x1 one im2col row. */
int32_t pqk_conv2d_s8_smlal_buffer_size(const pqk_conv2d_s8_params_t *params)
{
    const pqk_window_t *win = &params->window;
    const int32_t block = PIXELS * padded_columns_of(win) * (int32_t)sizeof(int32_t);
    return win->filter_h == 1 && win->filter_w == 1 ? block : block + columns_of(win);
}

/* Widen output pixel ``pixel``'s im2col row into lane ``lane`` of the block (padding columns 0). */
static void gather_pixel(const pqk_conv2d_s8_params_t *params, const int8_t *input, int32_t pixel, int32_t lane,
                         int32_t *block, int8_t *temp)
{
    const int32_t size = columns_of(&params->window), padded = padded_columns_of(&params->window);
    const int8_t *row = pqk_im2col_row(&params->window, params->input_zero_point, input, pixel, temp);
    int32_t *x = block + lane;
    int32_t k;
    for (k = 0; k < size; ++k) {
        x[PIXELS * k] = row[k];
    }
    for (; k < padded; ++k) {
        x[PIXELS * k] = 0;
    }
}

static inline __attribute__((always_inline)) int8_t requantize(int32_t acc, const pqk_fast_requant_t *q, int mode,
                                                               int32_t activation_min, int32_t activation_max)
{
    return pqk_fast_clamp(pqk_fast_requantize(acc, q, mode), mode, activation_min, activation_max);
}

/* All output channels of one block of ``count`` pixels. Locals hold everything the loops read: the
 * output stores could alias *params as far as the compiler knows. */
static inline __attribute__((always_inline)) void block_channels(const pqk_conv2d_s8_params_t *params,
                                                                 const int32_t *words, const int32_t *block,
                                                                 int8_t *out, int32_t count, int mode)
{
    const pqk_window_t *win = &params->window;
    const pqk_requant_s8_t *rq = &params->requant;
    const int32_t padded = padded_columns_of(win);
    const int32_t out_c = win->output_c;
    const int32_t activation_min = rq->activation_min, activation_max = rq->activation_max;
    const int32_t *bias = rq->bias;
    const int32_t *const block_end = block + PIXELS * padded;
    int32_t c;
    for (c = 0; c < out_c; c += 2) {
        uint32_t low0, high0, low1, high1;
        pqk_pair_dot2(words, block, block_end, &low0, &high0, &low1, &high1);
        words += padded;
        {
            const pqk_fast_requant_t q = pqk_fast_requant_channel(rq, c, mode);
            out[c] = requantize(pqk_pair_sum(bias[c], pqk_pair_low(low0)), &q, mode, activation_min, activation_max);
            if (count > 1) {
                out[out_c + c] = requantize(pqk_pair_sum(bias[c], pqk_pair_low(low1)), &q, mode, activation_min, activation_max);
            }
        }
        if (c + 1 < out_c) {
            const pqk_fast_requant_t q = pqk_fast_requant_channel(rq, c + 1, mode);
            out[c + 1] = requantize(pqk_pair_sum(bias[c + 1], pqk_pair_high(low0, high0)), &q, mode, activation_min,
                                    activation_max);
            if (count > 1) {
                out[out_c + c + 1] = requantize(pqk_pair_sum(bias[c + 1], pqk_pair_high(low1, high1)), &q, mode, activation_min,
                                                activation_max);
            }
        }
    }
}

void pqk_conv2d_s8_smlal(const pqk_conv2d_s8_params_t *params, const int32_t *weights, const int8_t *input,
                         int8_t *output, int8_t *scratch)
{
    const pqk_window_t *win = &params->window;
    const int32_t pixels = win->batches * win->output_h * win->output_w;
    const int mode = pqk_fast_mode(&params->requant);
    int32_t *block = (int32_t *)(void *)scratch;
    int8_t *temp = scratch + PIXELS * padded_columns_of(win) * (int32_t)sizeof(int32_t);
    int32_t first, lane;
    for (first = 0; first < pixels; first += PIXELS) {
        const int32_t count = pixels - first < PIXELS ? pixels - first : PIXELS;
        int8_t *out = output + first * win->output_c;
        for (lane = 0; lane < PIXELS; ++lane) {
            /* a lane past the last pixel repeats it; its results are not stored */
            gather_pixel(params, input, lane < count ? first + lane : first, lane, block, temp);
        }
        /* Constant count and requantization mode let the compiler drop the tests from the output
         * loop (modes as in pqk_conv2d_s8_dsp: see pqk_fast_mode()). */
        if (mode & PQK_FAST_CHECKED) {
            block_channels(params, weights, block, out, count, PQK_FAST_CHECKED);
        } else if (count != PIXELS) {
            block_channels(params, weights, block, out, count, 0);
        } else if (mode == (PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED)) {
            block_channels(params, weights, block, out, PIXELS, PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED);
        } else if (mode == PQK_FAST_FULL_RANGE) {
            block_channels(params, weights, block, out, PIXELS, PQK_FAST_FULL_RANGE);
        } else {
            block_channels(params, weights, block, out, PIXELS, 0);
        }
    }
}
