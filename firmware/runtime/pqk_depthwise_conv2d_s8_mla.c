/* pqk_depthwise_conv2d_s8_mla: int8 DEPTHWISE_CONV_2D (depth multiplier 1), dense weights, for cores
 * without the DSP extension.
 *
 * input  [batches][input_h][input_w][channels]    int8
 * weights [(channels + 3) / 4][filter_h * filter_w][4] int32: per group of four channels and tap the four
 *         channels' weights (pqk_mcu/codegen/weights.py encode_channel_quads; missing channels 0)
 * output [batches][output_h][output_w][channels]  int8 in [activation_min, activation_max]
 * scratch pqk_depthwise_conv2d_s8_mla_buffer_size() bytes, 4-byte aligned; at most 64 taps.
 * Same bytes as pqk_depthwise_conv2d_s8 (outputs outside pqk_dsp.h's fast-requantization bounds:
 * PQK_FAST_CHECKED).
 *
 * Four channels at a time: per tap one word of input, SXTB (with rotation) and ASR split it into the
 * four channels, one LDM loads their four weights, four MLA. Taps in the padding read a row of
 * input_zero_point bytes kept in scratch, so the tap loop has no branches; the tap table ends with
 * NULL, which ends the loop. Channels past the last group of four run one by one. In place (output ==
 * input, allowed when no output row is longer than an input row, any stride): the input rows that
 * output rows overwrite but later rows still read are kept in a ring of pad_top + 1 rows in scratch.
 */
#include "pqk_mla.h"

#define MAX_TAPS 64
#define GROUP 4

int32_t pqk_depthwise_conv2d_s8_mla_buffer_size(const pqk_depthwise_conv2d_s8_params_t *params)
{
    const pqk_window_t *win = &params->window;
    return ((win->input_c + 3) & ~3) + (win->pad_top + 1) * win->input_w * win->input_c;
}

/* acc[i] += sum over the taps of input byte c + i at the tap times its weight, for the four channels
 * from c. taps: NULL-terminated, at least one tap; words: the group's weights, [tap][4].
 * Register map of the loop (ARMv7-M): r4, r5, r6, r8 the four weights (ascending, as LDM fills them;
 * r7 stays free for a frame pointer); the accumulators, the input word, the tap pointer (which
 * doubles as the extracted input), the table and weight pointers and c wherever the compiler puts
 * them. */
static inline __attribute__((always_inline)) void group_sums(const int8_t *const *taps, const int32_t *words,
                                                             int32_t c, int32_t acc[GROUP])
{
#if defined(__arm__) && defined(__thumb2__)
    register int32_t w0 __asm__("r4");
    register int32_t w1 __asm__("r5");
    register int32_t w2 __asm__("r6");
    register int32_t w3 __asm__("r8");
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], x;
    const int8_t *tap = taps[0];
    const int8_t *const *next = taps + 1;
    __asm__("1:\n\t"
            "ldr %[x], [%[tap], %[c]]\n\t"
            "ldm %[words]!, {%[w0], %[w1], %[w2], %[w3]}\n\t"
            "sxtb %[tap], %[x]\n\t"
            "mla %[a0], %[tap], %[w0], %[a0]\n\t"
            "sxtb %[tap], %[x], ror #8\n\t"
            "mla %[a1], %[tap], %[w1], %[a1]\n\t"
            "sxtb %[tap], %[x], ror #16\n\t"
            "mla %[a2], %[tap], %[w2], %[a2]\n\t"
            "asr %[x], %[x], #24\n\t"
            "mla %[a3], %[x], %[w3], %[a3]\n\t"
            "ldr %[tap], [%[next]], #4\n\t"
            "cmp %[tap], #0\n\t"
            "bne 1b"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [tap] "+r"(tap), [next] "+r"(next),
              [words] "+r"(words), [x] "=&r"(x), [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3)
            : [c] "r"(c)
            : "cc", "memory");
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
#else
    for (; *taps != NULL; ++taps, words += GROUP) {
        int32_t i;
        for (i = 0; i < GROUP; ++i) {
            acc[i] = (int32_t)((uint32_t)acc[i] + (uint32_t)((*taps)[c + i] * words[i]));
        }
    }
#endif
}

static inline __attribute__((always_inline)) int8_t requantize(const pqk_requant_s8_t *rq, int32_t channel,
                                                               int32_t acc, int mode)
{
    const pqk_fast_requant_t q = pqk_fast_requant_channel(rq, channel, mode);
    return pqk_fast_clamp(pqk_fast_requantize(acc, &q, mode), mode, rq->activation_min, rq->activation_max);
}

/* Every channel of one output pixel. */
static inline __attribute__((always_inline)) void pixel_channels(const pqk_depthwise_conv2d_s8_params_t *params,
                                                                 const int32_t *weights, const int8_t *const *taps,
                                                                 int32_t tap_count, int8_t *out, int mode)
{
    const pqk_requant_s8_t *rq = &params->requant;
    const int32_t channels = params->window.output_c;
    const int32_t full = channels & ~(GROUP - 1);
    const int32_t *bias = rq->bias;
    const int32_t *words = weights;
    int32_t c, i, t;
    for (c = 0; c < full; c += GROUP) {
        int32_t acc[GROUP] = {bias[c], bias[c + 1], bias[c + 2], bias[c + 3]};
        group_sums(taps, words, c, acc);
        words += GROUP * tap_count;
        out[c] = requantize(rq, c, acc[0], mode);
        out[c + 1] = requantize(rq, c + 1, acc[1], mode);
        out[c + 2] = requantize(rq, c + 2, acc[2], mode);
        out[c + 3] = requantize(rq, c + 3, acc[3], mode);
    }
    for (i = 0; c < channels; ++c, ++i) {
        int32_t acc = bias[c];
        for (t = 0; t < tap_count; ++t) {
            acc = (int32_t)((uint32_t)acc + (uint32_t)(taps[t][c] * words[GROUP * t + i]));
        }
        out[c] = requantize(rq, c, acc, mode);
    }
}

void pqk_depthwise_conv2d_s8_mla(const pqk_depthwise_conv2d_s8_params_t *params, const int32_t *weights,
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
    const int8_t *taps[MAX_TAPS + 1];
    int32_t b, oy, ox, fy, fx, c;
    for (c = 0; c < ((channels + 3) & ~3); ++c) {
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
                taps[tap_count] = NULL;
                /* constant modes (see pqk_fast_mode()) */
                if (mode == PQK_FAST_CHECKED) {
                    pixel_channels(params, weights, taps, tap_count, out, PQK_FAST_CHECKED);
                } else if (mode == (PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED)) {
                    pixel_channels(params, weights, taps, tap_count, out, PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED);
                } else if (mode == PQK_FAST_FULL_RANGE) {
                    pixel_channels(params, weights, taps, tap_count, out, PQK_FAST_FULL_RANGE);
                } else {
                    pixel_channels(params, weights, taps, tap_count, out, 0);
                }
                out += channels;
            }
        }
    }
}
