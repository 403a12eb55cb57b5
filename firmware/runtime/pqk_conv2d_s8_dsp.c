/* pqk_conv2d_s8_dsp: int8 CONV_2D, dense OHWI weights, DSP extension (SMLAD).
 *
 * input  [batches][input_h][input_w][input_c]     int8
 * weights [output_c][filter_h][filter_w][input_c]  int8, symmetric (zero point 0)
 * output [batches][output_h][output_w][output_c]  int8 in [activation_min, activation_max]
 * scratch pqk_conv2d_s8_dsp_buffer_size() bytes, 4-byte aligned.
 * Same bytes as pqk_conv2d_s8 (outputs outside pqk_dsp.h's fast-requantization bounds: PQK_FAST_CHECKED).
 *
 * Four output pixels at a time: their im2col rows are widened to int16 pairs in scratch, group of
 * four columns by group, pixel by pixel: (x0, x2), (x1, x3) of pixel 0, then pixel 1, ... so that
 * SXTB16 of a weight word (w0, w2) and of its byte rotation (w1, w3) meet them in SMLAD. Per four
 * columns and output channel: one weight load, two SXTB16, the block's eight words and eight SMLAD
 * for 16 MACs. The output may overlap the input (the memory plan places it so, pqk_mcu.codegen.memory
 * write_lead): a block's inputs are in scratch before its outputs are written, and the blocks run
 * forward when the output starts at or before the input, backward when after it (memmove's rule).
 */
#include "pqk_dsp.h"

#define PIXELS 4
#define BLOCK PIXELS

static int32_t columns_of(const pqk_window_t *win)
{
    return win->filter_h * win->filter_w * win->input_c;
}

/* The widened block (columns rounded up to a multiple of 4, int16, four pixels) + for filters
 * larger than 1x1 one im2col row. */
int32_t pqk_conv2d_s8_dsp_buffer_size(const pqk_conv2d_s8_params_t *params)
{
    const pqk_window_t *win = &params->window;
    const int32_t block = PIXELS * ((columns_of(win) + 3) & ~3) * (int32_t)sizeof(int16_t);
    return win->filter_h == 1 && win->filter_w == 1 ? block : block + columns_of(win);
}

/* Widen output pixel ``pixel``'s im2col row into lane ``lane`` of the block: per four columns
 * the words (x0, x2) and (x1, x3); the columns past the filter in the last group are zero. */
static void gather_pixel(const pqk_conv2d_s8_params_t *params, const int8_t *input, int32_t pixel, int32_t lane,
                         int16_t *block, int8_t *temp)
{
    const int32_t size = columns_of(&params->window);
    const int8_t *row = pqk_im2col_row(&params->window, params->input_zero_point, input, pixel, temp);
    uint32_t *words = (uint32_t *)(void *)(block + lane * 4);
    int32_t k;
    for (k = 0; k + 4 <= size; k += 4) {
        const uint32_t word = pqk_load_s8x4(row + k);
        words[0] = pqk_sxtb16(word);
        words[1] = pqk_sxtb16_ror8(word);
        words += 2 * PIXELS;
    }
    if (k < size) {
        uint32_t word = 0;
        int32_t i;
        for (i = 0; k + i < size; ++i) {
            word |= (uint32_t)(uint8_t)row[k + i] << (8 * i);
        }
        words[0] = pqk_sxtb16(word);
        words[1] = pqk_sxtb16_ror8(word);
    }
}

/* All output channels of one block. Locals hold everything the loops read: the output stores
 * could alias *params as far as the compiler knows. */
static inline __attribute__((always_inline)) void block_channels(const pqk_conv2d_s8_params_t *params,
                                                                 const int8_t *weights, const uint32_t *block,
                                                                 int8_t *out, int32_t count, int mode)
{
    const pqk_window_t *win = &params->window;
    const pqk_requant_s8_t *rq = &params->requant;
    const int32_t size = win->filter_h * win->filter_w * win->input_c;
    const int32_t groups = size >> 2;
    const int32_t out_c = win->output_c;
    const int32_t activation_min = rq->activation_min, activation_max = rq->activation_max;
    const int32_t *bias = rq->bias;
    const int8_t *w = weights;
    int32_t oc;
    for (oc = 0; oc < out_c; ++oc) {
        const pqk_fast_requant_t q = pqk_fast_requant_channel(rq, oc, mode);
        const int8_t *const w_end = w + groups * 4;
        const uint32_t *x = block;
        int32_t acc0 = bias[oc], acc1 = acc0, acc2 = acc0, acc3 = acc0;
        while (w != w_end) {
            const uint32_t word = pqk_load_s8x4(w);
            const uint32_t even = pqk_sxtb16(word), odd = pqk_sxtb16_ror8(word);
            uint32_t x0, x1;
            PQK_LOAD_PAIR(x, 0, x0, x1);
            acc0 = pqk_smlad(odd, x1, pqk_smlad(even, x0, acc0));
            PQK_LOAD_PAIR(x, 8, x0, x1);
            acc1 = pqk_smlad(odd, x1, pqk_smlad(even, x0, acc1));
            PQK_LOAD_PAIR(x, 16, x0, x1);
            acc2 = pqk_smlad(odd, x1, pqk_smlad(even, x0, acc2));
            PQK_LOAD_PAIR(x, 24, x0, x1);
            acc3 = pqk_smlad(odd, x1, pqk_smlad(even, x0, acc3));
            w += 4;
            x += 2 * PIXELS;
        }
        if (size & 3) {
            /* the last group, zero-padded: assemble the weight word from the tail bytes */
            uint32_t word = 0;
            int32_t i;
            for (i = 0; i < (size & 3); ++i) {
                word |= (uint32_t)(uint8_t)*w++ << (8 * i);
            }
            {
                const uint32_t even = pqk_sxtb16(word), odd = pqk_sxtb16_ror8(word);
                acc0 = pqk_smlad(odd, x[1], pqk_smlad(even, x[0], acc0));
                acc1 = pqk_smlad(odd, x[3], pqk_smlad(even, x[2], acc1));
                acc2 = pqk_smlad(odd, x[5], pqk_smlad(even, x[4], acc2));
                acc3 = pqk_smlad(odd, x[7], pqk_smlad(even, x[6], acc3));
            }
        }
        out[0] = pqk_fast_clamp(pqk_fast_requantize(acc0, &q, mode), mode, activation_min, activation_max);
        if (count > 1) {
            out[out_c] = pqk_fast_clamp(pqk_fast_requantize(acc1, &q, mode), mode, activation_min, activation_max);
        }
        if (count > 2) {
            out[2 * out_c] = pqk_fast_clamp(pqk_fast_requantize(acc2, &q, mode), mode, activation_min, activation_max);
        }
        if (count > 3) {
            out[3 * out_c] = pqk_fast_clamp(pqk_fast_requantize(acc3, &q, mode), mode, activation_min, activation_max);
        }
        ++out;
    }
}

void pqk_conv2d_s8_dsp(const pqk_conv2d_s8_params_t *params, const int8_t *weights, const int8_t *input,
                       int8_t *output, int8_t *scratch)
{
    const pqk_window_t *win = &params->window;
    const int32_t pixels = win->batches * win->output_h * win->output_w;
    const int mode = pqk_fast_mode(&params->requant);
    int16_t *block = (int16_t *)(void *)scratch;
    int8_t *temp = scratch + PIXELS * ((columns_of(win) + 3) & ~3) * (int32_t)sizeof(int16_t);
    const int32_t blocks = (pixels + PIXELS - 1) / PIXELS;
    const int backward = (uintptr_t)output > (uintptr_t)input;
    int32_t step, lane;
    for (step = 0; step < blocks; ++step) {
        const int32_t first = (backward ? blocks - 1 - step : step) * PIXELS;
        const int32_t count = pixels - first < PIXELS ? pixels - first : PIXELS;
        int8_t *out = output + first * win->output_c;
        for (lane = 0; lane < PIXELS; ++lane) {
            /* lanes past the last pixel repeat it; their results are not stored */
            gather_pixel(params, input, lane < count ? first + lane : first, lane, block, temp);
        }
        /* Constant count and requantization mode let the compiler drop the tests from the output
         * loop (see pqk_fast_mode() for the modes instantiated); the last, partial block takes the
         * general mode, and a layer with channels outside the fast bounds the checked one. */
        if (mode & PQK_FAST_CHECKED) {
            block_channels(params, weights, (const uint32_t *)(void *)block, out, count, PQK_FAST_CHECKED);
        } else if (count != BLOCK) {
            block_channels(params, weights, (const uint32_t *)(void *)block, out, count, 0);
        } else if (mode == (PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED)) {
            block_channels(params, weights, (const uint32_t *)(void *)block, out, BLOCK,
                           PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED);
        } else if (mode == PQK_FAST_FULL_RANGE) {
            block_channels(params, weights, (const uint32_t *)(void *)block, out, BLOCK, PQK_FAST_FULL_RANGE);
        } else {
            block_channels(params, weights, (const uint32_t *)(void *)block, out, BLOCK, 0);
        }
    }
}
