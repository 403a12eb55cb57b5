/* pqk_depthwise_conv2d_s8_dsp: int8 DEPTHWISE_CONV_2D (depth multiplier 1), dense weights, DSP extension.
 *
 * input  [batches][input_h][input_w][channels]    int8, any channel count
 * weights [(channels + 3) / 4][filter_h * filter_w][2] int32: per group of four channels and tap the int16
 *         pairs (w0, w2) and (w1, w3), low halfword first (pqk_mcu/codegen/weights.py encode_channel_quads_s16;
 *         missing channels 0): the halves SXTB16 makes of an input word and of its rotation by 8 bits
 * output [batches][output_h][output_w][channels]  int8 in [activation_min, activation_max]
 * scratch pqk_depthwise_conv2d_s8_dsp_buffer_size() bytes, 4-byte aligned; at most 64 taps.
 * Same bytes as pqk_depthwise_conv2d_s8 (outputs outside pqk_dsp.h's fast-requantization bounds: PQK_FAST_CHECKED).
 *
 * Per output pixel a table of tap pointers (taps in the padding point to a row of input_zero_point
 * bytes kept in scratch); then four channels at a time: per tap one input word, SXTB16 splits it into
 * channels (0, 2) and (1, 3), one LDRD loads the matching weight words, SMLABB/SMLATT accumulate each
 * channel. 3x3 filters run a fully unrolled tap walk. Channels past the last group of four run one by
 * one. In place (output == input, allowed when no output row is longer than an input row): the input
 * rows that output rows overwrite but later rows still read are kept in a ring of pad_top + 1 rows in
 * scratch.
 */
#include "pqk_dsp.h"

#define MAX_TAPS 64
#define GROUP 4

int32_t pqk_depthwise_conv2d_s8_dsp_buffer_size(const pqk_depthwise_conv2d_s8_params_t *params)
{
    const pqk_window_t *win = &params->window;
    return ((win->input_c + 3) & ~3) + (win->pad_top + 1) * win->input_w * win->input_c;
}

/* acc0..acc3 += the taps' input bytes c .. c + 3 times their weights, over the taps from taps to taps_end
 * (at least one). w: the group's weight words, two per tap; returns where the next group's start. */
static inline __attribute__((always_inline)) const uint32_t *group_sums(const int8_t *const *taps,
                                                                       const int8_t *const *taps_end,
                                                                       const uint32_t *w, int32_t c, int32_t *acc0,
                                                                       int32_t *acc1, int32_t *acc2, int32_t *acc3)
{
#if PQK_HAVE_DSP
    /* Register map: the compiler's choice (twelve registers: a0-a3 the sums, next/end the tap table,
     * w, c, x the tap pointer, then the input word, then its odd channels, x_even, k_even/k_odd the
     * weights). An odd tap count takes one tap first, then pairs of taps per loop step. */
    int32_t a0 = *acc0, a1 = *acc1, a2 = *acc2, a3 = *acc3;
    uint32_t x, x_even, k_even, k_odd;
#define PQK_TAP_ASM                                                                                        \
    "ldr %[x], [%[next]], #4\n\t"                                                                         \
    "ldr %[x], [%[x], %[c]]\n\t"                                                                          \
    "ldrd %[k_even], %[k_odd], [%[w]], #8\n\t"                                                            \
    "sxtb16 %[x_even], %[x]\n\t"                                                                          \
    "sxtb16 %[x], %[x], ror #8\n\t"                                                                       \
    "smlabb %[a0], %[k_even], %[x_even], %[a0]\n\t"                                                       \
    "smlatt %[a2], %[k_even], %[x_even], %[a2]\n\t"                                                       \
    "smlabb %[a1], %[k_odd], %[x], %[a1]\n\t"                                                             \
    "smlatt %[a3], %[k_odd], %[x], %[a3]\n\t"
    if ((taps_end - taps) & 1) {
        __asm__(PQK_TAP_ASM
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [next] "+r"(taps), [w] "+r"(w),
                  [x] "=&r"(x), [x_even] "=&r"(x_even), [k_even] "=&r"(k_even), [k_odd] "=&r"(k_odd)
                : [c] "r"(c)
                : "memory");
    }
    __asm__("cmp %[next], %[end]\n\t"
            "beq 2f\n"
            "1:\n\t" PQK_TAP_ASM PQK_TAP_ASM
            "cmp %[next], %[end]\n\t"
            "bne 1b\n"
            "2:"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [next] "+r"(taps), [w] "+r"(w),
              [x] "=&r"(x), [x_even] "=&r"(x_even), [k_even] "=&r"(k_even), [k_odd] "=&r"(k_odd)
            : [end] "r"(taps_end), [c] "r"(c)
            : "cc", "memory");
#undef PQK_TAP_ASM
    *acc0 = a0, *acc1 = a1, *acc2 = a2, *acc3 = a3;
#else
    for (; taps != taps_end; ++taps, w += 2) {
        const uint32_t x = pqk_load_s8x4(*taps + c);
        const uint32_t x_even = pqk_sxtb16(x), x_odd = pqk_sxtb16_ror8(x);
        *acc0 = pqk_smlabb(w[0], x_even, *acc0);
        *acc2 = pqk_smlatt(w[0], x_even, *acc2);
        *acc1 = pqk_smlabb(w[1], x_odd, *acc1);
        *acc3 = pqk_smlatt(w[1], x_odd, *acc3);
    }
#endif
    return w;
}

/* Every channel of one output pixel: tap t's input channel c is taps[t][offset + c]. */
static inline __attribute__((always_inline)) void pixel_channels(const pqk_depthwise_conv2d_s8_params_t *params,
                                                                 const uint32_t *weights, const int8_t *const *taps,
                                                                 int32_t tap_count, int32_t offset, int8_t *out,
                                                                 int mode)
{
    const pqk_requant_s8_t *rq = &params->requant;
    /* locals: the output stores could alias *params as far as the compiler knows */
    const int32_t channels = params->window.output_c, full = channels & ~(GROUP - 1);
    const int32_t activation_min = rq->activation_min, activation_max = rq->activation_max;
    const int32_t *const bias = rq->bias, *const multiplier = rq->multiplier;
    const int8_t *const shift = rq->shift;
    const uint32_t odd_zero_point = pqk_odd_zero_point(rq);
    const uint32_t *w = weights;
    int32_t c;
    for (c = 0; c < full; c += GROUP) {
        int32_t acc0 = bias[c], acc1 = bias[c + 1], acc2 = bias[c + 2], acc3 = bias[c + 3];
        w = group_sums(taps, taps + tap_count, w, offset + c, &acc0, &acc1, &acc2, &acc3);
        /* unrolled: an array of the four sums would go through the stack */
#define PQK_STORE(i, acc)                                                                                   \
    {                                                                                                       \
        const pqk_fast_requant_t q = pqk_fast_requant_make(multiplier[c + (i)], shift[c + (i)], odd_zero_point, mode); \
        out[c + (i)] = pqk_fast_clamp(pqk_fast_requantize(acc, &q, mode), mode, activation_min, activation_max); \
    }
        PQK_STORE(0, acc0)
        PQK_STORE(1, acc1)
        PQK_STORE(2, acc2)
        PQK_STORE(3, acc3)
#undef PQK_STORE
    }
    if (c < channels) {
        /* the last, partial group: channel c + i's weight is halfword i >> 1 of word i & 1 of each tap */
        int32_t i, t;
        for (i = 0; c + i < channels; ++i) {
            const uint32_t *word = w + (i & 1);
            const int32_t half = 16 * (i >> 1);
            int32_t acc = bias[c + i];
            for (t = 0; t < tap_count; ++t) {
                acc += taps[t][offset + c + i] * (int16_t)(word[2 * t] >> half);
            }
            {
                const pqk_fast_requant_t q = pqk_fast_requant_make(multiplier[c + i], shift[c + i], odd_zero_point, mode);
                out[c + i] = pqk_fast_clamp(pqk_fast_requantize(acc, &q, mode), mode, activation_min, activation_max);
            }
        }
    }
}

#define PQK_PIXEL(mode) pixel_channels(params, weights, pixel_taps, tap_count, offset, out, mode);

void pqk_depthwise_conv2d_s8_dsp(const pqk_depthwise_conv2d_s8_params_t *params, const int32_t *words,
                                 const int8_t *input, int8_t *output, int8_t *scratch)
{
    const pqk_window_t *win = &params->window;
    const uint32_t *weights = (const uint32_t *)(const void *)words;
    const int32_t channels = win->input_c;
    const int32_t input_h = win->input_h, input_w = win->input_w;
    const int32_t filter_h = win->filter_h, filter_w = win->filter_w, tap_count = filter_h * filter_w;
    const int32_t row_bytes = input_w * channels, tap_step = win->dilation_w * channels;
    const int32_t ring_rows = win->pad_top + 1;
    const int in_place = output == input;
    const int mode = pqk_fast_mode(&params->requant);
    int8_t *zero_row = scratch;
    int8_t *ring = scratch + ((channels + 3) & ~3);
    /* output columns whose taps are all inside the input rows: [inside_first, inside_end) */
    const int32_t inside_first = (win->pad_left + win->stride_w - 1) / win->stride_w;
    const int32_t inside_end = (input_w - (filter_w - 1) * win->dilation_w + win->pad_left + win->stride_w - 1) / win->stride_w;
    const int8_t *rows[MAX_TAPS];
    const int8_t *taps[MAX_TAPS];     /* of a pixel with taps in the padding */
    const int8_t *row_taps[MAX_TAPS]; /* of the inside pixels of an output row: tap columns from input column 0 */
    int32_t b, oy, ox, fy, fx, c;
    for (c = 0; c < channels; ++c) {
        zero_row[c] = (int8_t)params->input_zero_point;
    }
    for (b = 0; b < win->batches; ++b) {
        const int8_t *image = input + b * input_h * row_bytes;
        int8_t *out = output + b * win->output_h * win->output_w * channels;
        for (oy = 0; oy < win->output_h; ++oy) {
            const int32_t iy0 = oy * win->stride_h - win->pad_top;
            int rows_inside = 1;
            if (in_place) {
                /* Row oy is about to be overwritten; rows above it already were. */
                memcpy(ring + (oy % ring_rows) * row_bytes, image + oy * row_bytes, (size_t)row_bytes);
            }
            /* the filter rows of this output row: NULL in the padding */
            for (fy = 0; fy < filter_h; ++fy) {
                const int32_t iy = iy0 + fy * win->dilation_h;
                rows[fy] = iy < 0 || iy >= input_h             ? NULL
                           : in_place && iy <= oy ? ring + (iy % ring_rows) * row_bytes
                                                  : image + iy * row_bytes;
                rows_inside &= rows[fy] != NULL;
            }
            if (rows_inside) {
                const int8_t **tap = row_taps;
                for (fy = 0; fy < filter_h; ++fy) {
                    for (fx = 0; fx < filter_w; ++fx) {
                        *tap++ = rows[fy] + fx * tap_step;
                    }
                }
            }
            for (ox = 0; ox < win->output_w; ++ox) {
                const int32_t ix0 = ox * win->stride_w - win->pad_left;
                const int8_t *const *pixel_taps = row_taps;
                int32_t offset = ix0 * channels;
                if (!rows_inside || ox < inside_first || ox >= inside_end) {
                    const int8_t **tap = taps;
                    for (fy = 0; fy < filter_h; ++fy) {
                        const int8_t *row = rows[fy];
                        if (row == NULL) {
                            for (fx = 0; fx < filter_w; ++fx) {
                                *tap++ = zero_row;
                            }
                        } else {
                            int32_t ix = ix0, column = offset;
                            for (fx = 0; fx < filter_w; ++fx) {
                                *tap++ = (uint32_t)ix < (uint32_t)input_w ? row + column : zero_row;
                                column += tap_step;
                                ix += win->dilation_w;
                            }
                        }
                    }
                    pixel_taps = taps;
                    offset = 0;
                }
                /* constant modes (see pqk_fast_mode()) */
                if (mode == PQK_FAST_CHECKED) {
                    PQK_PIXEL(PQK_FAST_CHECKED)
                } else if (mode == (PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED)) {
                    PQK_PIXEL(PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED)
                } else if (mode == PQK_FAST_FULL_RANGE) {
                    PQK_PIXEL(PQK_FAST_FULL_RANGE)
                } else {
                    PQK_PIXEL(0)
                }
                out += channels;
            }
        }
    }
}
