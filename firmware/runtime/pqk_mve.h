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
 * of which seven are free beside the loop counter (lr), and two pixels x three rows take six. */
#define PQK_MVE_ROWS 3

/* Lanes 0-2 of first (pixel 0) and second (pixel 1, pixels == 2) = the group's three rows . the
 * pixels' columns, from the group's weights w and the block x ([chunk][pixel][16 bytes]); lane 3
 * repeats lane 2. Register map: %[w] and %[x] walk the weights and the block (post-increment),
 * %[a0..a2] pixel 0's sums, %[b0..b2] pixel 1's (even registers, "Te"), lr counts the chunks after
 * the first (WLS/LE), q0/q1 the pixels' chunk, q2/q3 weight rows. */
static inline __attribute__((always_inline)) void pqk_mve_group_sums(const int8_t *w, const int8_t *x, int32_t chunks,
                                                                    int pixels, int32x4_t *first, int32x4_t *second)
{
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
        __asm__ volatile(PQK_MVE_TWO_PIXELS("vmladav.s8") "wls lr, %[n], 2f\n"
                         "1:\n\t" PQK_MVE_TWO_PIXELS("vmladava.s8") "le lr, 1b\n"
                         "2:"
                         : [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [b0] "=&Te"(b0), [b1] "=&Te"(b1),
                           [b2] "=&Te"(b2), [w] "+r"(w), [x] "+r"(x)
                         : [n] "r"(chunks - 1)
                         : "q0", "q1", "q2", "q3", "lr", "memory");
#undef PQK_MVE_TWO_PIXELS
        __asm__("vmov %q0[2], %q0[0], %1, %3\n\tvmov %q0[3], %q0[1], %2, %3" : "=&w"(*second)
                : "r"(b0), "r"(b1), "r"(b2));
    } else {
#define PQK_MVE_ONE_PIXEL(op)                                                                               \
        "vldrb.8 q0, [%[x]], #16\n\t"                                                                       \
        "vldrb.8 q2, [%[w]], #16\n\t"                                                                       \
        "vldrb.8 q3, [%[w]], #16\n\t"                                                                       \
        op " %[a0], q0, q2\n\t"                                                                             \
        "vldrb.8 q2, [%[w]], #16\n\t"                                                                       \
        op " %[a1], q0, q3\n\t"                                                                             \
        op " %[a2], q0, q2\n\t"
        __asm__ volatile(PQK_MVE_ONE_PIXEL("vmladav.s8") "wls lr, %[n], 2f\n"
                         "1:\n\t" PQK_MVE_ONE_PIXEL("vmladava.s8") "le lr, 1b\n"
                         "2:"
                         : [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [w] "+r"(w), [x] "+r"(x)
                         : [n] "r"(chunks - 1)
                         : "q0", "q2", "q3", "lr", "memory");
#undef PQK_MVE_ONE_PIXEL
    }
    __asm__("vmov %q0[2], %q0[0], %1, %3\n\tvmov %q0[3], %q0[1], %2, %3" : "=&w"(*first) : "r"(a0), "r"(a1), "r"(a2));
}

/* Copy a row of `columns` bytes into dst chunk by chunk (16 bytes, dst advancing by dst_stride);
 * the last chunk's bytes past the row are zero (the load is tail-predicated: it reads nothing
 * past the row). */
static inline void pqk_mve_interleave_row(const int8_t *row, int32_t columns, int8_t *dst, int32_t dst_stride)
{
    int32_t k;
    for (k = 0; k < columns; k += 16) {
        vst1q_s8(dst, vldrbq_z_s8(row + k, vctp8q((uint32_t)(columns - k))));
        dst += dst_stride;
    }
}

/* The output channels of one pixel block, per group of PQK_MVE_ROWS (see pqk_mve_group_sums). */
static inline __attribute__((always_inline)) void pqk_mve_groups(const pqk_requant_s8_t *rq, const int8_t *w,
                                                                int32_t per_channel, int32_t out_c, int32_t chunks,
                                                                const int8_t *block, int pixels, int8_t *out,
                                                                int32_t out_stride, int mode)
{
    const pqk_mve_clamp_t clamp = pqk_mve_clamp_of(rq);
    const int32x4_t tensor_multiplier = vdupq_n_s32(rq->multiplier[0]);
    const int32x4_t tensor_shift = vdupq_n_s32(rq->shift[0]);
    int32_t oc;
    for (oc = 0; oc < out_c; oc += PQK_MVE_ROWS) {
        const int32_t rows = out_c - oc < PQK_MVE_ROWS ? out_c - oc : PQK_MVE_ROWS;
        const mve_pred16_t lanes = vctp32q((uint32_t)rows);
        const int32x4_t bias = vldrwq_z_s32(rq->bias + oc, lanes);
        const int32x4_t multiplier = per_channel ? vldrwq_z_s32(rq->multiplier + oc, lanes) : tensor_multiplier;
        const int32x4_t shift = per_channel ? vldrbq_z_s32(rq->shift + oc, lanes) : tensor_shift;
        int32x4_t first, second;
        pqk_mve_group_sums(w, block, chunks, pixels, &first, &second);
        w += PQK_MVE_ROWS * 16 * chunks;
        vstrbq_p_s32(out + oc, pqk_mve_requantize(vaddq_s32(first, bias), multiplier, shift, &clamp, mode), lanes);
        if (pixels == 2) {
            vstrbq_p_s32(out + out_stride + oc,
                         pqk_mve_requantize(vaddq_s32(second, bias), multiplier, shift, &clamp, mode), lanes);
        }
    }
}

/* Every output channel of `pixels` (1 or 2) pixels whose columns are in block ([chunk][pixel][16
 * bytes], chunks chunks): outputs at out (pixel 0) and out + out_stride (pixel 1). per_channel 0:
 * one multiplier and shift for all channels (the bias is per channel). The usual ReLU layer takes
 * its own instantiation; every other requantization the general one. */
static inline void pqk_mve_rows_x_pixels(const pqk_requant_s8_t *rq, const int8_t *weights, int32_t per_channel,
                                         int32_t out_c, int32_t chunks, const int8_t *block, int pixels,
                                         int8_t *out, int32_t out_stride)
{
    const int usual = pqk_mve_mode(rq) == (PQK_MVE_NEGATIVES_CLAMPED | PQK_MVE_NO_LEFT_SHIFT);
    if (pixels == 2 && usual) {
        pqk_mve_groups(rq, weights, per_channel, out_c, chunks, block, 2, out, out_stride,
                       PQK_MVE_NEGATIVES_CLAMPED | PQK_MVE_NO_LEFT_SHIFT);
    } else if (pixels == 2) {
        pqk_mve_groups(rq, weights, per_channel, out_c, chunks, block, 2, out, out_stride, 0);
    } else if (usual) {
        pqk_mve_groups(rq, weights, per_channel, out_c, chunks, block, 1, out, out_stride,
                       PQK_MVE_NEGATIVES_CLAMPED | PQK_MVE_NO_LEFT_SHIFT);
    } else {
        pqk_mve_groups(rq, weights, per_channel, out_c, chunks, block, 1, out, out_stride, 0);
    }
}

#endif /* PQK_HAVE_MVE */

#endif /* PQK_MVE_H */
