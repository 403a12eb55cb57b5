/* pqk_depthwise_conv2d_s8_mve: int8 DEPTHWISE_CONV_2D, any depth multiplier, dense weights, Helium (MVE).
 *
 * input   [batches][input_h][input_w][input_c]             int8
 * weights [depth_multiplier][input_c / 16 rounded up][filter_h * filter_w][16]  int8 in [-127, 127]:
 *         multiplier m, lane group g, tap t, lane i holds the filter tap of output channel
 *         (16 g + i) * depth_multiplier + m (pqk_mcu.codegen.weights.encode_depthwise_lanes; the
 *         padding of the last group is zero)
 * output  [batches][output_h][output_w][output_c]           int8 in [activation_min, activation_max]
 * scratch pqk_depthwise_conv2d_s8_mve_buffer_size() bytes.
 * Same bytes as pqk_depthwise_conv2d_s8, for any requantization (pqk_mve.h's exact vector form).
 *
 * Input channels in lanes, 16 per pass (one output pixel, one multiplier): per tap one VLDRB.8 of
 * the input bytes (contiguous for every multiplier) and one of the weights, and VMULLB.S8 /
 * VMULLT.S8 give the 16 products as int16 (even and odd lanes). MVE has no vector-by-vector
 * multiply-accumulate, so the products of two taps are added as int16 (|w| <= 127: two products
 * are at most 2 * 128 * 127 < 2^15, which is why weights of -128 take another kernel), then widened
 * (VMOVLB/VMOVLT.S16) into four int32 sums: channels 4k + {0, 2, 1, 3} of the pass (k = lane). The
 * requantization data is gathered and the outputs scattered with offsets 4 * lane *
 * depth_multiplier. Taps in the padding read a row of input_zero_point bytes in scratch. The last
 * pass of a channel count that is not a multiple of 16 predicates its input loads (nothing past
 * the input is read; the weights' zero padding clears the other lanes) and its stores.
 */
#include "pqk_mve.h"

#define LANES 16

static int32_t padded_channels(const pqk_window_t *win)
{
    return (win->input_c + LANES - 1) & ~(LANES - 1);
}

int32_t pqk_depthwise_conv2d_s8_mve_buffer_size(const pqk_depthwise_conv2d_s8_params_t *params)
{
    return padded_channels(&params->window);
}

#if PQK_HAVE_MVE

#define MAX_TAPS 64

/* sums += the int16 sums of products `even` (channels 0, 2, .., 14) and `odd` (1, 3, .., 15), widened */
#define PQK_WIDEN_ADD(even, odd)                                                                             \
    {                                                                                                        \
        sum0 = vaddq_s32(sum0, vmovlbq_s16(even));                                                           \
        sum1 = vaddq_s32(sum1, vmovltq_s16(even));                                                           \
        sum2 = vaddq_s32(sum2, vmovlbq_s16(odd));                                                            \
        sum3 = vaddq_s32(sum3, vmovltq_s16(odd));                                                            \
    }

/* Outputs of input channels ic .. ic + count - 1 (count <= 16) of multiplier m at one pixel; w: the
 * pass's weights ([tap][16]), out + channel: output channel ic * depth_multiplier + m. */
static inline __attribute__((always_inline)) void lanes_pass(const pqk_depthwise_conv2d_s8_params_t *params,
                                                             const int8_t *w, const int8_t *const *taps,
                                                             int32_t tap_count, int32_t ic, int32_t count,
                                                             int8_t *out, int32_t channel, uint32x4_t offsets,
                                                             int full, int mode)
{
    const pqk_requant_s8_t *rq = &params->requant;
    const pqk_mve_clamp_t clamp = pqk_mve_clamp_of(rq);
    const mve_pred16_t inside = vctp8q((uint32_t)count);
    int32x4_t sum0 = vdupq_n_s32(0), sum1 = sum0, sum2 = sum0, sum3 = sum0;
    int32_t t;
#define PQK_TAP_PRODUCTS(even, odd)                                                                          \
    {                                                                                                        \
        const int8x16_t x = full ? vld1q_s8(*taps + ic) : vldrbq_z_s8(*taps + ic, inside);                  \
        const int8x16_t k = vld1q_s8(w);                                                                     \
        even = vmullbq_int_s8(x, k);                                                                         \
        odd = vmulltq_int_s8(x, k);                                                                          \
        ++taps;                                                                                              \
        w += LANES;                                                                                          \
    }
    for (t = 0; t + 2 <= tap_count; t += 2) {
        int16x8_t even0, odd0, even1, odd1;
        PQK_TAP_PRODUCTS(even0, odd0)
        PQK_TAP_PRODUCTS(even1, odd1)
        PQK_WIDEN_ADD(vaddq_s16(even0, even1), vaddq_s16(odd0, odd1))
    }
    if (t < tap_count) {
        int16x8_t even, odd;
        PQK_TAP_PRODUCTS(even, odd)
        PQK_WIDEN_ADD(even, odd)
    }
#undef PQK_TAP_PRODUCTS
    /* sum_k holds channels first + 4 * lane of the pass */
#define PQK_STORE(first, sum)                                                                                 \
    {                                                                                                         \
        const int32_t c = channel + (first) * params->depth_multiplier;                                      \
        const mve_pred16_t lanes = vcmphiq_u32(vdupq_n_u32((uint32_t)count),                                  \
                                               vidupq_n_u32((uint32_t)(first), 4));                           \
        const int32x4_t bias = vldrwq_gather_shifted_offset_z_s32(rq->bias + c, offsets, lanes);             \
        const int32x4_t multiplier = vldrwq_gather_shifted_offset_z_s32(rq->multiplier + c, offsets, lanes); \
        const int32x4_t shift = vldrbq_gather_offset_z_s32(rq->shift + c, offsets, lanes);                   \
        vstrbq_scatter_offset_p_s32(out + c, offsets,                                                        \
                                    pqk_mve_requantize(vaddq_s32(sum, bias), multiplier, shift, &clamp, mode), \
                                    lanes);                                                                   \
    }
    PQK_STORE(0, sum0)
    PQK_STORE(2, sum1)
    PQK_STORE(1, sum2)
    PQK_STORE(3, sum3)
#undef PQK_STORE
}

/* Every output channel of one pixel, its taps' input rows in taps. */
static inline __attribute__((always_inline)) void pixel_channels(const pqk_depthwise_conv2d_s8_params_t *params,
                                                                 const int8_t *weights,
                                                                 const int8_t *const *taps, int32_t tap_count,
                                                                 int8_t *out, uint32x4_t offsets, int mode)
{
    const int32_t channels = params->window.input_c, multipliers = params->depth_multiplier;
    const int32_t pass_bytes = tap_count * LANES;
    const int8_t *w = weights;
    int32_t m, ic;
    for (m = 0; m < multipliers; ++m) {
        for (ic = 0; ic + LANES <= channels; ic += LANES) {
            lanes_pass(params, w, taps, tap_count, ic, LANES, out, ic * multipliers + m, offsets, 1, mode);
            w += pass_bytes;
        }
        if (ic < channels) {
            lanes_pass(params, w, taps, tap_count, ic, channels - ic, out, ic * multipliers + m, offsets, 0, mode);
            w += pass_bytes;
        }
    }
}

void pqk_depthwise_conv2d_s8_mve(const pqk_depthwise_conv2d_s8_params_t *params, const int8_t *weights,
                                 const int8_t *input, int8_t *output, int8_t *scratch)
{
    const pqk_window_t *win = &params->window;
    const int32_t row_bytes = win->input_w * win->input_c;
    const int usual = pqk_mve_mode(&params->requant) == (PQK_MVE_NEGATIVES_CLAMPED | PQK_MVE_NO_LEFT_SHIFT);
    const uint32x4_t offsets = vmulq_n_u32(vidupq_n_u32(0, 4), (uint32_t)params->depth_multiplier);
    const int8_t *zero_row = scratch;
    const int8_t *taps[MAX_TAPS];
    int32_t b, oy, ox, fy, fx, c;
    for (c = 0; c < padded_channels(win); c += LANES) {
        vst1q_s8(scratch + c, vdupq_n_s8((int8_t)params->input_zero_point));
    }
    for (b = 0; b < win->batches; ++b) {
        const int8_t *image = input + b * win->input_h * row_bytes;
        int8_t *out = output + b * win->output_h * win->output_w * win->output_c;
        for (oy = 0; oy < win->output_h; ++oy) {
            const int32_t iy0 = oy * win->stride_h - win->pad_top;
            for (ox = 0; ox < win->output_w; ++ox) {
                const int32_t ix0 = ox * win->stride_w - win->pad_left;
                int32_t tap_count = 0;
                for (fy = 0; fy < win->filter_h; ++fy) {
                    const int32_t iy = iy0 + fy * win->dilation_h;
                    const int row_inside = iy >= 0 && iy < win->input_h;
                    for (fx = 0; fx < win->filter_w; ++fx) {
                        const int32_t ix = ix0 + fx * win->dilation_w;
                        taps[tap_count++] = row_inside && ix >= 0 && ix < win->input_w
                                                ? image + iy * row_bytes + ix * win->input_c
                                                : zero_row;
                    }
                }
                if (usual) {
                    pixel_channels(params, weights, taps, tap_count, out, offsets,
                                   PQK_MVE_NEGATIVES_CLAMPED | PQK_MVE_NO_LEFT_SHIFT);
                } else {
                    pixel_channels(params, weights, taps, tap_count, out, offsets, 0);
                }
                out += win->output_c;
            }
        }
    }
}

#endif /* PQK_HAVE_MVE */
