/* pqk_depthwise_conv2d_s8_dsp: int8 DEPTHWISE_CONV_2D (depth multiplier 1), dense weights, DSP extension.
 *
 * input  [batches][input_h][input_w][channels]    int8, channels a multiple of 4
 * weights [filter_h][filter_w][channels]           int8, symmetric
 * output [batches][output_h][output_w][channels]  int8 in [activation_min, activation_max]
 * scratch pqk_depthwise_conv2d_s8_dsp_buffer_size() bytes, 4-byte aligned.
 * Same bytes as pqk_depthwise_conv2d_s8 (outputs outside pqk_dsp.h's fast-requantization bounds: PQK_FAST_CHECKED).
 *
 * Four channels at a time: one word of input and one of weights per tap, SXTB16 splits them into
 * channels (0, 2) and (1, 3), and SMLABB/SMLATT accumulate each channel separately. Taps in the
 * padding read a row of input_zero_point bytes kept in scratch, so the tap loop has no branches.
 * In place (output == input, allowed when stride is 1 and the output has the input's shape): the
 * input rows that output rows overwrite but later rows still read are kept in a ring of
 * pad_top + 1 rows in scratch.
 */
#include "pqk_dsp.h"

#define MAX_TAPS 64

int32_t pqk_depthwise_conv2d_s8_dsp_buffer_size(const pqk_depthwise_conv2d_s8_params_t *params)
{
    const pqk_window_t *win = &params->window;
    return ((win->input_c + 3) & ~3) + (win->pad_top + 1) * win->input_w * win->input_c;
}

static inline __attribute__((always_inline)) void four_channels(const pqk_depthwise_conv2d_s8_params_t *params,
                                                                const int8_t *weights, const int8_t *const *taps,
                                                                int32_t tap_count, int32_t c, int8_t *out,
                                                                int mode)
{
    const pqk_requant_s8_t *rq = &params->requant;
    const int32_t channels = params->window.output_c;
    const int32_t activation_min = rq->activation_min, activation_max = rq->activation_max;
    /* locals: the output stores could alias *params as far as the compiler knows */
    const int32_t *const multiplier = rq->multiplier + c;
    const int8_t *const shift = rq->shift + c;
    const uint32_t odd_zero_point = pqk_odd_zero_point(rq);
    int32_t acc0 = rq->bias[c], acc1 = rq->bias[c + 1], acc2 = rq->bias[c + 2], acc3 = rq->bias[c + 3];
    const int8_t *w = weights + c;
    int32_t t;
    for (t = 0; t < tap_count; ++t) {
        const uint32_t x = pqk_load_s8x4(taps[t] + c);
        const uint32_t k = pqk_load_s8x4(w);
        const uint32_t x_even = pqk_sxtb16(x), x_odd = pqk_sxtb16_ror8(x);
        const uint32_t k_even = pqk_sxtb16(k), k_odd = pqk_sxtb16_ror8(k);
        acc0 = pqk_smlabb(k_even, x_even, acc0);
        acc2 = pqk_smlatt(k_even, x_even, acc2);
        acc1 = pqk_smlabb(k_odd, x_odd, acc1);
        acc3 = pqk_smlatt(k_odd, x_odd, acc3);
        w += channels;
    }
    /* unrolled: an array of the four sums would go through the stack */
#define PQK_STORE(i, acc)                                                                                   \
    {                                                                                                       \
        const pqk_fast_requant_t q = pqk_fast_requant_make(multiplier[i], shift[i], odd_zero_point, mode);       \
        out[c + (i)] = pqk_fast_clamp(pqk_fast_requantize(acc, &q, mode), mode, activation_min, activation_max); \
    }
    PQK_STORE(0, acc0)
    PQK_STORE(1, acc1)
    PQK_STORE(2, acc2)
    PQK_STORE(3, acc3)
#undef PQK_STORE
}

void pqk_depthwise_conv2d_s8_dsp(const pqk_depthwise_conv2d_s8_params_t *params, const int8_t *weights,
                                 const int8_t *input, int8_t *output, int8_t *scratch)
{
    const pqk_window_t *win = &params->window;
    const int32_t channels = win->input_c;
    const int32_t row_bytes = win->input_w * channels;
    const int32_t ring_rows = win->pad_top + 1;
    const int in_place = output == input;
    const int mode = pqk_fast_mode(&params->requant);
    int8_t *zero_row = scratch;
    int8_t *ring = scratch + ((channels + 3) & ~3);
    const int8_t *taps[MAX_TAPS];
    int32_t b, oy, ox, fy, fx, c;
    for (c = 0; c < channels; ++c) {
        zero_row[c] = (int8_t)params->input_zero_point;
    }
    for (b = 0; b < win->batches; ++b) {
        const int8_t *image = input + b * win->input_h * row_bytes;
        int8_t *out = output + b * win->output_h * win->output_w * channels;
        for (oy = 0; oy < win->output_h; ++oy) {
            const int32_t iy0 = oy * win->stride_h - win->pad_top;
            if (in_place) {
                /* Row oy is about to be overwritten; rows above it already were. */
                memcpy(ring + (oy % ring_rows) * row_bytes, image + oy * row_bytes, (size_t)row_bytes);
            }
            for (ox = 0; ox < win->output_w; ++ox) {
                const int32_t ix0 = ox * win->stride_w - win->pad_left;
                int32_t tap_count = 0;
                for (fy = 0; fy < win->filter_h; ++fy) {
                    const int32_t iy = iy0 + fy * win->dilation_h;
                    const int row_inside = iy >= 0 && iy < win->input_h;
                    const int8_t *row = !row_inside ? zero_row
                                        : in_place && iy <= oy ? ring + (iy % ring_rows) * row_bytes
                                                               : image + iy * row_bytes;
                    for (fx = 0; fx < win->filter_w; ++fx) {
                        const int32_t ix = ix0 + fx * win->dilation_w;
                        taps[tap_count++] = row_inside && ix >= 0 && ix < win->input_w ? row + ix * channels : zero_row;
                    }
                }
                /* constant modes (see pqk_fast_mode()) */
                if (mode == PQK_FAST_CHECKED) {
                    for (c = 0; c < channels; c += 4) {
                        four_channels(params, weights, taps, tap_count, c, out, PQK_FAST_CHECKED);
                    }
                } else if (mode == (PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED)) {
                    for (c = 0; c < channels; c += 4) {
                        four_channels(params, weights, taps, tap_count, c, out,
                                      PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED);
                    }
                } else if (mode == PQK_FAST_FULL_RANGE) {
                    for (c = 0; c < channels; c += 4) {
                        four_channels(params, weights, taps, tap_count, c, out, PQK_FAST_FULL_RANGE);
                    }
                } else {
                    for (c = 0; c < channels; c += 4) {
                        four_channels(params, weights, taps, tap_count, c, out, 0);
                    }
                }
                out += channels;
            }
        }
    }
}
