/* Helium (MVE) helpers for the *_mve kernel variants (Cortex-M55, Armv8.1-M with MVE).
 *
 * The *_mve kernels exist only where the compiler targets MVE (__ARM_FEATURE_MVE): elsewhere their
 * files compile to nothing, and pqk_mcu.codegen picks them only for boards with has_mve. Host gcc
 * cannot run MVE, so their bit-exactness is tested in QEMU (mps3-an547).
 *
 * pqk_mve_requantize() is pqk_requantize() + zero point + clamp on four int32 lanes, exact for every
 * accumulator, multiplier and shift that pqk_requant_s8_t allows (no fast-form bounds):
 *   left shift       x << max(shift, 0), wrapping like the C form (VSHL by register);
 *   pqk_srdhm        VQRDMULH: sat((2ab + 2^31) >> 32) = floor((ab + 2^30) / 2^31), which is gemmlowp's
 *                    truncating form (ab + nudge) / 2^31 for both signs, and saturates the one overflow
 *                    (INT32_MIN * INT32_MIN) to INT32_MAX as it does;
 *   rounding divide  gemmlowp rounds ties away from zero, VRSHL (x + 2^(e-1)) >> e rounds them up:
 *                    x + [x < 0] * -1 before VRSHL turns the one into the other for e >= 1
 *                    (floor((x + 2^(e-1) - 1) / 2^e) is the tie-away result of a negative x), and no
 *                    overflow: |srdhm| <= 2^31 - 1 for multipliers in [0, 2^31). The sign term is
 *                    masked with -e, whose sign bit is set only for e >= 1 (e = 0 divides by 1).
 * Under PQK_MVE_NEGATIVES_CLAMPED (activation_min >= output zero point) the sign term is dropped: it
 * moves only results of negative x, which are <= 0 with or without it and end at activation_min
 * (pqk_dsp.h has the same argument for its fast form). Under PQK_MVE_NO_LEFT_SHIFT (no channel
 * shifts left: requant.checked clear, the lowering sets it outside pqk_dsp.h's fast bounds) the
 * left shift is skipped. The Python twin is pqk_mcu.quant.fixed_point.mve_requantize_array.
 */
#ifndef PQK_MVE_H
#define PQK_MVE_H

#include <stdint.h>

#include "pqk_runtime.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>
#define PQK_HAVE_MVE 1
#else
#define PQK_HAVE_MVE 0
#endif

#if PQK_HAVE_MVE

/* Requantization modes, a constant at each call site (the kernels instantiate their output loops
 * per mode). */
enum {
    PQK_MVE_NEGATIVES_CLAMPED = 1, /* activation_min >= output zero point: no sign term */
    PQK_MVE_NO_LEFT_SHIFT = 2,     /* every shift <= 0 */
};

static inline int pqk_mve_mode(const pqk_requant_s8_t *rq)
{
    return (rq->activation_min >= rq->output_zero_point ? PQK_MVE_NEGATIVES_CLAMPED : 0) |
           (rq->checked ? 0 : PQK_MVE_NO_LEFT_SHIFT);
}

/* The layer's constant requantization terms as vectors. */
typedef struct {
    int32x4_t zero_point, activation_min, activation_max;
} pqk_mve_clamp_t;

static inline pqk_mve_clamp_t pqk_mve_clamp_of(const pqk_requant_s8_t *rq)
{
    pqk_mve_clamp_t c;
    c.zero_point = vdupq_n_s32(rq->output_zero_point);
    c.activation_min = vdupq_n_s32(rq->activation_min);
    c.activation_max = vdupq_n_s32(rq->activation_max);
    return c;
}

/* pqk_requantize(acc, multiplier, shift) + zero point, clamped, per lane (see above). */
static inline __attribute__((always_inline)) int32x4_t pqk_mve_requantize(int32x4_t acc, int32x4_t multiplier,
                                                                         int32x4_t shift, const pqk_mve_clamp_t *c,
                                                                         int mode)
{
    const int32x4_t zero = vdupq_n_s32(0);
    int32x4_t right = shift, r; /* right: -e */
    if (!(mode & PQK_MVE_NO_LEFT_SHIFT)) {
        acc = vshlq_s32(acc, vmaxq_s32(shift, zero));
        right = vminq_s32(shift, zero);
    }
    r = vqrdmulhq_s32(acc, multiplier);
    if (!(mode & PQK_MVE_NEGATIVES_CLAMPED)) {
        r = vaddq_s32(r, vshrq_n_s32(vandq_s32(r, right), 31));
    }
    r = vaddq_s32(vrshlq_s32(r, right), c->zero_point);
    return vminq_s32(vmaxq_s32(r, c->activation_min), c->activation_max);
}

/* Dense weights for pqk_mve_rows_x_pixels(): output channels in groups of PQK_MVE_ROWS, each group
 * as column chunks of 16 bytes, each chunk as its rows' 16 bytes (pqk_mcu.codegen.weights.
 * encode_row_chunks; rows and columns zero-padded). Three rows: VMLADAVA sums go to even registers,
 * and two pixels x three rows take six of the seven free ones. */
#define PQK_MVE_ROWS 3

/* The sums of every group (groups of three rows, weights w) with the pixels' columns in block
 * ([chunk][pixel][16 bytes], chunks chunks), pixel 0's into sums0 and pixel 1's (pixels == 2) into
 * sums1, three per group (rows past the matrix: zero weights). Register map: %[w] walks the
 * weights, %[x] the block from %[block] for each group (post-increment), %[s0] / %[s1] the sums;
 * %[a0..a2] pixel 0's sums of a group, %[b0..b2] pixel 1's (VMLADAVA needs even registers:
 * "Te"), %[g] counts the groups, lr the chunks after the first (WLS/LE); q0/q1 the pixels' chunk,
 * q2/q3 weight rows. Not inlined: the loop takes all thirteen general registers, which a caller
 * with its own live values could not give it. */
static __attribute__((noinline)) void pqk_mve_sums(const int8_t *w, const int8_t *block, int32_t chunks,
                                                   int32_t groups, int pixels, int32_t *sums0, int32_t *sums1)
{
    const int8_t *x;
    int32_t a0, a1, a2, b0, b1, b2;
    if (pixels == 2) {
#define PQK_MVE_TWO_PIXELS(op)                                                                              \
        "vldrb.8 q1, [%[x], #16]\n\t"                                                                       \
        "vldrb.8 q0, [%[x]], #32\n\t"                                                                       \
        "vldrb.8 q2, [%[w]], #16\n\t"                                                                       \
        op " %[a0], q0, q2\n\t"                                                                             \
        op " %[b0], q1, q2\n\t"                                                                             \
        "vldrb.8 q3, [%[w]], #16\n\t"                                                                       \
        op " %[a1], q0, q3\n\t"                                                                             \
        op " %[b1], q1, q3\n\t"                                                                             \
        "vldrb.8 q2, [%[w]], #16\n\t"                                                                       \
        op " %[a2], q0, q2\n\t"                                                                             \
        op " %[b2], q1, q2\n\t"
        __asm__ volatile("3:\n\t"
                         "mov %[x], %[block]\n\t" PQK_MVE_TWO_PIXELS("vmladav.s8") "wls lr, %[n], 2f\n"
                         "1:\n\t" PQK_MVE_TWO_PIXELS("vmladava.s8") "le lr, 1b\n"
                         "2:\n\t"
                         "strd %[a0], %[a1], [%[s0]], #8\n\t"
                         "str %[a2], [%[s0]], #4\n\t"
                         "strd %[b0], %[b1], [%[s1]], #8\n\t"
                         "str %[b2], [%[s1]], #4\n\t"
                         "subs %[g], %[g], #1\n\t"
                         "bne 3b"
                         : [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [b0] "=&Te"(b0), [b1] "=&Te"(b1),
                           [b2] "=&Te"(b2), [w] "+r"(w), [x] "=&r"(x), [s0] "+r"(sums0), [s1] "+r"(sums1),
                           [g] "+r"(groups)
                         : [n] "r"(chunks - 1), [block] "r"(block)
                         : "q0", "q1", "q2", "q3", "lr", "memory", "cc");
#undef PQK_MVE_TWO_PIXELS
    } else {
#define PQK_MVE_ONE_PIXEL(op)                                                                               \
        "vldrb.8 q0, [%[x]], #16\n\t"                                                                       \
        "vldrb.8 q2, [%[w]], #16\n\t"                                                                       \
        "vldrb.8 q3, [%[w]], #16\n\t"                                                                       \
        op " %[a0], q0, q2\n\t"                                                                             \
        "vldrb.8 q2, [%[w]], #16\n\t"                                                                       \
        op " %[a1], q0, q3\n\t"                                                                             \
        op " %[a2], q0, q2\n\t"
        __asm__ volatile("3:\n\t"
                         "mov %[x], %[block]\n\t" PQK_MVE_ONE_PIXEL("vmladav.s8") "wls lr, %[n], 2f\n"
                         "1:\n\t" PQK_MVE_ONE_PIXEL("vmladava.s8") "le lr, 1b\n"
                         "2:\n\t"
                         "strd %[a0], %[a1], [%[s0]], #8\n\t"
                         "str %[a2], [%[s0]], #4\n\t"
                         "subs %[g], %[g], #1\n\t"
                         "bne 3b"
                         : [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [w] "+r"(w), [x] "=&r"(x),
                           [s0] "+r"(sums0), [g] "+r"(groups)
                         : [n] "r"(chunks - 1), [block] "r"(block)
                         : "q0", "q2", "q3", "lr", "memory", "cc");
#undef PQK_MVE_ONE_PIXEL
        (void)sums1;
    }
}

/* Copy `bytes` bytes (tail-predicated: nothing past either end is touched). */
static inline void pqk_mve_copy(int8_t *dst, const int8_t *src, int32_t bytes)
{
    int32_t k;
    for (k = 0; k < bytes; k += 16) {
        const mve_pred16_t p = vctp8q((uint32_t)(bytes - k));
        vstrbq_p_s8(dst + k, vldrbq_z_s8(src + k, p), p);
    }
}

/* Copy a row of `columns` bytes into dst by chunks of 16 (dst advancing by dst_stride); the last
 * chunk's bytes past the row are zero. */
static inline void pqk_mve_interleave_row(const int8_t *row, int32_t columns, int8_t *dst, int32_t dst_stride)
{
    int32_t k;
    for (k = 0; k < columns; k += 16) {
        vst1q_s8(dst, vldrbq_z_s8(row + k, vctp8q((uint32_t)(columns - k))));
        dst += dst_stride;
    }
}

/* out[c] = requantized sums[c] + bias[c], c < count: four channels per vector, the last vector
 * predicated. per_channel 0: one multiplier and shift for all channels. */
static inline __attribute__((always_inline)) void pqk_mve_requantize_row(const pqk_requant_s8_t *rq,
                                                                        int32_t per_channel, const int32_t *sums,
                                                                        int32_t count, int8_t *out, int mode)
{
    const pqk_mve_clamp_t clamp = pqk_mve_clamp_of(rq);
    const int32_t *bias = rq->bias, *multiplier = rq->multiplier;
    const int8_t *shift = rq->shift;
    const int32_t step = 4 * per_channel;
    int32x4_t m = vdupq_n_s32(multiplier[0]), e = vdupq_n_s32(shift[0]);
    int32_t c;
    for (c = 0; c + 4 <= count; c += 4) {
        if (per_channel) {
            m = vldrwq_s32(multiplier);
            e = vldrbq_s32(shift);
        }
        vstrbq_s32(out + c, pqk_mve_requantize(vaddq_s32(vldrwq_s32(sums + c), vldrwq_s32(bias)), m, e, &clamp, mode));
        bias += 4;
        multiplier += step;
        shift += step;
    }
    if (c < count) {
        const mve_pred16_t p = vctp32q((uint32_t)(count - c));
        if (per_channel) {
            m = vldrwq_z_s32(multiplier, p);
            e = vldrbq_z_s32(shift, p);
        }
        vstrbq_p_s32(out + c,
                     pqk_mve_requantize(vaddq_s32(vldrwq_s32(sums + c), vldrwq_z_s32(bias, p)), m, e, &clamp, mode),
                     p);
    }
}

/* Bytes of scratch pqk_mve_rows_x_pixels() takes for the sums of two pixels. */
static inline int32_t pqk_mve_sums_bytes(int32_t out_c)
{
    return 2 * (out_c + PQK_MVE_ROWS - 1) / PQK_MVE_ROWS * PQK_MVE_ROWS * (int32_t)sizeof(int32_t);
}

/* Every output channel of `pixels` (1 or 2) pixels whose columns are in block ([chunk][pixel][16
 * bytes], the bytes past the weights' columns any value): outputs at out (pixel 0) and out +
 * out_stride (pixel 1); sums: pqk_mve_sums_bytes() of scratch, 4-byte aligned. per_channel 0: one
 * multiplier and shift for all channels (the bias is per channel). The usual ReLU layer takes its
 * own instantiation of the requantization; every other one the general one. */
static inline void pqk_mve_rows_x_pixels(const pqk_requant_s8_t *rq, const int8_t *weights, int32_t per_channel,
                                         int32_t out_c, int32_t chunks, const int8_t *block, int pixels,
                                         int8_t *out, int32_t out_stride, int32_t *sums)
{
    const int32_t groups = (out_c + PQK_MVE_ROWS - 1) / PQK_MVE_ROWS;
    int32_t *const sums1 = sums + groups * PQK_MVE_ROWS;
    int32_t p;
    if (pixels == 2) {
        pqk_mve_sums(weights, block, chunks, groups, 2, sums, sums1);
    } else {
        pqk_mve_sums(weights, block, chunks, groups, 1, sums, sums1);
    }
    for (p = 0; p < pixels; ++p) {
        if (pqk_mve_mode(rq) == (PQK_MVE_NEGATIVES_CLAMPED | PQK_MVE_NO_LEFT_SHIFT)) {
            pqk_mve_requantize_row(rq, per_channel, sums + p * groups * PQK_MVE_ROWS, out_c, out + p * out_stride,
                                   PQK_MVE_NEGATIVES_CLAMPED | PQK_MVE_NO_LEFT_SHIFT);
        } else {
            pqk_mve_requantize_row(rq, per_channel, sums + p * groups * PQK_MVE_ROWS, out_c, out + p * out_stride, 0);
        }
    }
}

#endif /* PQK_HAVE_MVE */

#endif /* PQK_MVE_H */
