/* Helium (MVE) helpers for the *_mve kernel variants (Cortex-M55, Armv8.1-M with MVE).
 *
 * The *_mve kernels exist only where the compiler targets MVE (__ARM_FEATURE_MVE): elsewhere their
 * files compile to their _buffer_size() only, and pqk_mcu.codegen picks them only for boards with has_mve. Host gcc
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

/* Scratch sizes, defined on every target: the kernels' _buffer_size() use them, and
 * tests/test_codegen_scratch.py compiles those on the host against pqk_mcu.codegen.cost_model. */

/* Dense weights for pqk_mve_rows_x_pixels(): output channels in groups of PQK_MVE_ROWS, each group
 * as column chunks of 16 bytes, each chunk as its rows' 16 bytes (pqk_mcu.codegen.weights.
 * encode_row_chunks; rows and columns zero-padded). Three rows: VMLADAVA sums go to even registers,
 * and two pixels x three rows take six of the seven free ones. */
#define PQK_MVE_ROWS 3

/* Output pixels pqk_mve_gather_conv() computes together (one per 32-bit lane of the requantization). */
#define PQK_MVE_GATHER_PIXELS 4

/* Bytes of scratch pqk_mve_rows_x_pixels() takes for the sums of two pixels (each its groups' rows). */
static inline int32_t pqk_mve_sums_bytes(int32_t out_c)
{
    return 2 * ((out_c + PQK_MVE_ROWS - 1) / PQK_MVE_ROWS) * PQK_MVE_ROWS * (int32_t)sizeof(int32_t);
}

/* Whether some window reaches past the input (its pixels then read a band). */
static inline int pqk_mve_windows_pad(const pqk_window_t *win)
{
    const int32_t last_y = (win->output_h - 1) * win->stride_h - win->pad_top + (win->filter_h - 1) * win->dilation_h;
    const int32_t last_x = (win->output_w - 1) * win->stride_w - win->pad_left + (win->filter_w - 1) * win->dilation_w;
    return win->pad_top > 0 || win->pad_left > 0 || last_y >= win->input_h || last_x >= win->input_w;
}

/* Columns of a band: the input columns every window of an output row covers, from -pad_left on. Where
 * windows pad, the gathered offsets step input rows by this many columns (pqk_mcu.codegen.cost_model.
 * gather_row_width), else by input_w. */
static inline int32_t pqk_mve_band_w(const pqk_window_t *win)
{
    return (win->output_w - 1) * win->stride_w + (win->filter_w - 1) * win->dilation_w + 1;
}

/* Bytes of a band: the rows of one output row's windows, padding included (rows pqk_mve_band_w() columns). */
static inline int32_t pqk_mve_band_bytes(const pqk_window_t *win)
{
    return ((win->filter_h - 1) * win->dilation_h + 1) * pqk_mve_band_w(win) * win->input_c;
}

/* Bands pqk_mve_gather_conv() keeps: one per output row that a block of pixels can span. */
static inline int32_t pqk_mve_bands(const pqk_window_t *win)
{
    const int32_t bands = 1 + (PQK_MVE_GATHER_PIXELS - 1 + win->output_w - 1) / win->output_w;
    return bands < PQK_MVE_GATHER_PIXELS ? bands : PQK_MVE_GATHER_PIXELS;
}

/* Channels rounded up to whole groups of four (pqk_mve_requantize_pixels() reads their sums by VLDRW gathers). */
static inline int32_t pqk_mve_round4(int32_t channels)
{
    return (channels + 3) & ~3;
}

/* Scratch of pqk_mve_gather_conv(): the sums of four pixels, and its bands where windows pad. */
static inline int32_t pqk_mve_gather_buffer_size(const pqk_window_t *win)
{
    return PQK_MVE_GATHER_PIXELS * 4 * pqk_mve_round4(win->output_c) +
           (pqk_mve_windows_pad(win) ? pqk_mve_bands(win) * pqk_mve_band_bytes(win) : 0);
}

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

/* Copy `bytes` bytes by a tail-predicated loop (WLSTP/LETP: the last vector's lanes past the end are
 * off, nothing past either end is touched). Register map: %[dst] / %[src] walk the bytes, lr counts
 * them down, q0 the vector. */
static inline void pqk_mve_copy(int8_t *dst, const int8_t *src, int32_t bytes)
{
    __asm__ volatile("wlstp.8 lr, %[n], 2f\n"
                     "1:\n\t"
                     "vldrb.8 q0, [%[src]], #16\n\t"
                     "vstrb.8 q0, [%[dst]], #16\n\t"
                     "letp lr, 1b\n"
                     "2:"
                     : [dst] "+r"(dst), [src] "+r"(src)
                     : [n] "r"(bytes)
                     : "q0", "lr", "memory");
}

/* Fill `bytes` bytes with `value` by a tail-predicated loop (as pqk_mve_copy(): %[dst] walks the bytes,
 * lr counts them down). */
static inline void pqk_mve_fill(int8_t *dst, int8x16_t value, int32_t bytes)
{
    __asm__ volatile("wlstp.8 lr, %[n], 2f\n"
                     "1:\n\t"
                     "vstrb.8 %q[value], [%[dst]], #16\n\t"
                     "letp lr, 1b\n"
                     "2:"
                     : [dst] "+r"(dst)
                     : [n] "r"(bytes), [value] "w"(value)
                     : "lr", "memory");
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

/* ---- Sparse (CSR) gathers of the *_csr_mve kernels ---------------------------------------------- */

/* pqk_mve_requantize() for the four lanes of one output channel (four pixels): its multiplier and
 * shift in general registers (the VQRDMULH, VSHL and VRSHL forms by a scalar), the same sequence and
 * result (Python twin: pqk_mcu.quant.fixed_point.mve_requantize_array). */
static inline __attribute__((always_inline)) int32x4_t pqk_mve_requantize_n(int32x4_t acc, int32_t multiplier,
                                                                           int32_t shift, const pqk_mve_clamp_t *c,
                                                                           int mode)
{
    int32_t right = shift; /* -e */
    int32x4_t r;
    if (!(mode & PQK_MVE_NO_LEFT_SHIFT)) {
        acc = vshlq_r_s32(acc, shift > 0 ? shift : 0);
        right = shift < 0 ? shift : 0;
    }
    r = vqrdmulhq_n_s32(acc, multiplier);
    if (!(mode & PQK_MVE_NEGATIVES_CLAMPED)) {
        r = vaddq_s32(r, vshrq_n_s32(vandq_s32(r, vdupq_n_s32(right)), 31));
    }
    r = vaddq_s32(vrshlq_n_s32(r, right), c->zero_point);
    return vminq_s32(vmaxq_s32(r, c->activation_min), c->activation_max);
}

/* sums[channel][pixel] of every output channel (`rows`) at the four pixels whose windows start at x0..x3:
 * each chunk of pqk_gather_csr_s8_t is gathered at every pixel (VLDRB.S16 by its eight offsets) and
 * multiplied with its weights (VMLADAV.S16 for a channel's first chunk, which sets the sums, VMLADAVA.S16
 * for the others; a channel without chunks stores zeros). Register map: %[w] walks the chunks, %[n] the
 * chunk counts, %[s] the sums, %[rows] counts the channels down; %[a0..a3] the pixels' sums (VMLADAVA
 * needs even registers: "Te"); lr counts the channel's chunks (WLS/LE); q0 the offsets, q1 the weights,
 * q2/q3 the gathered inputs. Not inlined: the loop takes twelve general registers and lr. */
static __attribute__((noinline)) void pqk_mve_gather_sums(const uint16_t *w, const uint8_t *n, int32_t rows,
                                                          const int8_t *x0, const int8_t *x1, const int8_t *x2,
                                                          const int8_t *x3, int32_t *sums)
{
    int32_t a0, a1, a2, a3;
#define PQK_MVE_GATHER_CHUNK(op)                                                                            \
    "vldrh.u16 q0, [%[w]], #16\n\t"                                                                          \
    "vldrb.s16 q1, [%[w]], #8\n\t"                                                                           \
    "vldrb.s16 q2, [%[x0], q0]\n\t"                                                                          \
    "vldrb.s16 q3, [%[x1], q0]\n\t"                                                                          \
    op " %[a0], q2, q1\n\t"                                                                                  \
    "vldrb.s16 q2, [%[x2], q0]\n\t"                                                                          \
    op " %[a1], q3, q1\n\t"                                                                                  \
    "vldrb.s16 q3, [%[x3], q0]\n\t"                                                                          \
    op " %[a2], q2, q1\n\t"                                                                                  \
    op " %[a3], q3, q1\n\t"
    __asm__ volatile("1:\n\t"
                     "ldrb lr, [%[n]], #1\n\t"
                     "wls lr, lr, 4f\n\t"
                     PQK_MVE_GATHER_CHUNK("vmladav.s16")
                     "sub lr, lr, #1\n\t"
                     "wls lr, lr, 3f\n"
                     "2:\n\t"
                     PQK_MVE_GATHER_CHUNK("vmladava.s16")
                     "le lr, 2b\n"
                     "3:\n\t"
                     "strd %[a0], %[a1], [%[s]], #8\n\t"
                     "strd %[a2], %[a3], [%[s]], #8\n\t"
                     "subs %[rows], %[rows], #1\n\t"
                     "bne 1b\n\t"
                     "b 5f\n"
                     "4:\n\t"
                     "mov %[a0], #0\n\t"
                     "mov %[a1], #0\n\t"
                     "mov %[a2], #0\n\t"
                     "mov %[a3], #0\n\t"
                     "b 3b\n"
                     "5:"
                     : [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [a3] "=&Te"(a3), [w] "+r"(w), [n] "+r"(n),
                       [s] "+r"(sums), [rows] "+r"(rows)
                     : [x0] "r"(x0), [x1] "r"(x1), [x2] "r"(x2), [x3] "r"(x3)
                     : "q0", "q1", "q2", "q3", "lr", "memory", "cc");
#undef PQK_MVE_GATHER_CHUNK
}

/* sums[channel][pixel] of every output channel (`rows`) at the four pixels whose windows start at x0 and at
 * x0 + pixels[i] (pqk_gather_taps_s8_t: per channel its taps, each a byte offset from the window's origin
 * and a weight): per tap one VLDRB.S32 gather of the four pixels' inputs and one VMLA by the weight, the
 * pixels in the lanes. Register map: %[w] walks the taps, %[n] the tap counts, %[s] the sums, %[rows]
 * counts the channels down, %[t] the tap's address, %[k] its weight; lr counts the channel's taps
 * (WLS/LE); %q[pixels] the pixels' offsets, q2 the gathered inputs, q3 the sums. */
static __attribute__((noinline)) void pqk_mve_gather_tap_sums(const int32_t *w, const uint8_t *n, int32_t rows,
                                                              const int8_t *x0, uint32x4_t pixels, int32_t *sums)
{
    const int8_t *t;
    int32_t k;
    __asm__ volatile("1:\n\t"
                     "ldrb lr, [%[n]], #1\n\t"
                     "vmov.i32 q3, #0\n\t"
                     "wls lr, lr, 3f\n"
                     "2:\n\t"
                     "ldrd %[t], %[k], [%[w]], #8\n\t"
                     "add %[t], %[t], %[x0]\n\t"
                     "vldrb.s32 q2, [%[t], %q[pixels]]\n\t"
                     "vmla.s32 q3, q2, %[k]\n\t"
                     "le lr, 2b\n"
                     "3:\n\t"
                     "vstrw.32 q3, [%[s]], #16\n\t"
                     "subs %[rows], %[rows], #1\n\t"
                     "bne 1b"
                     : [t] "=&r"(t), [k] "=&r"(k), [w] "+r"(w), [n] "+r"(n), [s] "+r"(sums), [rows] "+r"(rows)
                     : [x0] "r"(x0), [pixels] "w"(pixels)
                     : "q2", "q3", "lr", "memory", "cc");
}

/* The band of output row oy of image: input rows oy * stride_h - pad_top + fy * dilation_h (the others
 * of its span are never read), each pqk_mve_band_w() columns from -pad_left, padding outside the input.
 * Locals hold the geometry: the byte stores could alias *win as far as the compiler knows. */
static inline void pqk_mve_band(const pqk_window_t *win, const int8_t *image, int32_t oy, int8x16_t padding,
                                int8_t *band)
{
    const int32_t channels = win->input_c, input_h = win->input_h, dilation_h = win->dilation_h;
    const int32_t filter_h = win->filter_h, row_bytes = win->input_w * channels;
    const int32_t band_row = pqk_mve_band_w(win) * channels, left = win->pad_left * channels;
    /* the input's bytes of a band row: those of the input row up to the band's end */
    const int32_t inside = row_bytes < band_row - left ? row_bytes : band_row - left;
    const int32_t step = dilation_h * band_row;
    int32_t fy, iy = oy * win->stride_h - win->pad_top;
    for (fy = 0; fy < filter_h; ++fy, iy += dilation_h, band += step) {
        if (iy < 0 || iy >= input_h) {
            pqk_mve_fill(band, padding, band_row);
        } else {
            pqk_mve_fill(band, padding, left);
            pqk_mve_copy(band + left, image + iy * row_bytes, inside);
            pqk_mve_fill(band + left + inside, padding, band_row - left - inside);
        }
    }
}

/* The usual requantization (PQK_MVE_NEGATIVES_CLAMPED | PQK_MVE_NO_LEFT_SHIFT) of `groups` groups of four
 * channels at all four pixels of a block, their sums in sums[channel][pixel]: per group one VLDRW gather
 * per pixel (the lanes: the group's channels; q6 their sums' addresses, stepped by the first gather's
 * writeback) and the channels' bias, multiplier and shift as vectors; pixel i's outputs at o[i].
 * Register map: %[b], %[m], %[e] walk the biases, multipliers and shifts, %[o0..o3] the pixels'
 * outputs (VLDRB.S32 / VSTRB.32 take low registers: "l"), %[zp] the output zero point; lr counts the groups (WLS/LE); q0 biases, q1 multipliers,
 * q2 shifts (-e), q4 / q5 activation_min / max, q6 the addresses, q7 the pixel's sums. */
static __attribute__((noinline)) void pqk_mve_requantize_groups(const pqk_requant_s8_t *rq, const int32_t *sums,
                                                                int32_t groups, int8_t *o0, int32_t rows)
{
    const int32_t *b = rq->bias, *m = rq->multiplier;
    const int8_t *e = rq->shift;
    int8_t *o1 = o0 + rows, *o2 = o1 + rows, *o3 = o2 + rows;
    /* one group before the first: the gathers' writeback steps to each group */
    const uint32x4_t at = vaddq_n_u32(vshlq_n_u32(vidupq_n_u32(0, 4), 2), (uint32_t)(uintptr_t)sums - 64);
#define PQK_MVE_REQUANTIZE_PIXEL(o)                                                                         \
    "vadd.i32 q7, q7, q0\n\t"                                                                              \
    "vqrdmulh.s32 q7, q7, q1\n\t"                                                                          \
    "vrshl.s32 q7, q7, q2\n\t"                                                                             \
    "vadd.i32 q7, q7, %[zp]\n\t"                                                                           \
    "vmax.s32 q7, q7, q4\n\t"                                                                              \
    "vmin.s32 q7, q7, q5\n\t"                                                                              \
    "vstrb.32 q7, [%[" o "]], #4\n\t"
    __asm__ volatile("vmov q6, %q[at]\n\t"
                     "vdup.32 q4, %[lo]\n\t"
                     "vdup.32 q5, %[hi]\n\t"
                     "wls lr, %[groups], 2f\n"
                     "1:\n\t"
                     "vldrw.u32 q7, [q6, #64]!\n\t"
                     "vldrw.u32 q0, [%[b]], #16\n\t"
                     "vldrw.u32 q1, [%[m]], #16\n\t"
                     "vldrb.s32 q2, [%[e]], #4\n\t"
                     PQK_MVE_REQUANTIZE_PIXEL("o0")
                     "vldrw.u32 q7, [q6, #4]\n\t"
                     PQK_MVE_REQUANTIZE_PIXEL("o1")
                     "vldrw.u32 q7, [q6, #8]\n\t"
                     PQK_MVE_REQUANTIZE_PIXEL("o2")
                     "vldrw.u32 q7, [q6, #12]\n\t"
                     PQK_MVE_REQUANTIZE_PIXEL("o3")
                     "le lr, 1b\n"
                     "2:"
                     : [b] "+r"(b), [m] "+r"(m), [e] "+l"(e), [o0] "+l"(o0), [o1] "+l"(o1), [o2] "+l"(o2),
                       [o3] "+l"(o3)
                     : [groups] "r"(groups), [at] "w"(at), [zp] "r"(rq->output_zero_point),
                       [lo] "r"(rq->activation_min), [hi] "r"(rq->activation_max)
                     : "q0", "q1", "q2", "q4", "q5", "q6", "q7", "lr", "memory");
#undef PQK_MVE_REQUANTIZE_PIXEL
}

/* Outputs of every channel at the first `count` pixels of one block, their sums in sums[channel][pixel]
 * (channels rounded up to four), requantized four channels at a time: with `groups_done` groups
 * already written (by pqk_mve_requantize_groups()), the rest here: one VLDRW gather per pixel puts its
 * four sums in the lanes, requantized with the channels' multipliers and shifts as vectors and stored
 * contiguously at out + pixel * rows; the last group of channels predicated. */
static inline __attribute__((always_inline)) void pqk_mve_requantize_pixels(const pqk_requant_s8_t *rq,
                                                                           const int32_t *sums, int32_t rows,
                                                                           int8_t *out, int32_t count,
                                                                           int32_t groups_done, int mode)
{
    const pqk_mve_clamp_t clamp = pqk_mve_clamp_of(rq);
    int32_t c, pixel;
    for (c = 4 * groups_done; c < rows; c += 4) {
        const mve_pred16_t p = vctp32q((uint32_t)(rows - c));
        const int32x4_t b = vldrwq_z_s32(rq->bias + c, p), m = vldrwq_z_s32(rq->multiplier + c, p);
        const int32x4_t e = vldrbq_z_s32(rq->shift + c, p);
        for (pixel = 0; pixel < count; ++pixel) {
            /* byte offsets of the group's sums at this pixel */
            const uint32x4_t at = vshlq_n_u32(vidupq_n_u32((uint32_t)pixel, 4), 2);
            const int32x4_t s = vldrwq_gather_offset_s32(sums + 4 * c, at);
            vstrbq_p_s32(out + pixel * rows + c, pqk_mve_requantize(vaddq_s32(s, b), m, e, &clamp, mode), p);
        }
    }
}

/* A convolution (CONV_2D, or DEPTHWISE_CONV_2D whose offsets pick each channel's input channel) with
 * sparse gathered weights, four output pixels at a time: each pixel's window is read in place in the
 * input, or where windows pad, in the band of its output row (pqk_mve_band(), padding =
 * input_zero_point; built when the pixels reach the row, in a ring of pqk_mve_bands() bands); every
 * output channel is summed at the four pixels (taps 0: stream and counts of pqk_gather_csr_s8_t, by
 * pqk_mve_gather_sums(); taps 1: of pqk_gather_taps_s8_t, by pqk_mve_gather_tap_sums()), then the
 * sums are requantized four channels at a time. A block's sums are complete before its outputs are
 * written, so a 1x1 stride-1 convolution with output_c == input_c may run in place. Scratch:
 * pqk_mve_gather_buffer_size(). */
static inline __attribute__((always_inline)) void pqk_mve_gather_conv(const pqk_window_t *win, int32_t input_zero_point,
                                                                     const pqk_requant_s8_t *rq, const void *stream,
                                                                     const uint8_t *counts, int taps,
                                                                     const int8_t *input, int8_t *output,
                                                                     int8_t *scratch)
{
    const int32_t out_c = win->output_c, output_w = win->output_w, output_h = win->output_h;
    const int32_t input_w = win->input_w, channels = win->input_c;
    const int32_t pixels = win->batches * output_h * output_w;
    const int32_t image_bytes = win->input_h * input_w * channels;
    const int32_t band_bytes = pqk_mve_band_bytes(win), bands = pqk_mve_bands(win);
    const int32_t column_bytes = win->stride_w * channels, row_step = win->stride_h * input_w * channels;
    const int pads = pqk_mve_windows_pad(win);
    const int usual = pqk_mve_mode(rq) == (PQK_MVE_NEGATIVES_CLAMPED | PQK_MVE_NO_LEFT_SHIFT);
    const int8x16_t padding = vdupq_n_s8((int8_t)input_zero_point);
    /* the pixels' offsets from the first of an in-row block (the tap gathers') */
    const uint32x4_t consecutive = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)column_bytes);
    int32_t *const sums = (int32_t *)(void *)scratch;
    int8_t *const ring = scratch + PQK_MVE_GATHER_PIXELS * 4 * pqk_mve_round4(out_c);
    const int8_t *x[PQK_MVE_GATHER_PIXELS];
    /* line: the pixel's output row over all batches; built: the last line with a band, in band */
    int32_t oy = 0, ox = 0, line = 0, built = -1, first, lane;
    const int8_t *image = input, *row = input - win->pad_top * input_w * channels - win->pad_left * channels;
    int8_t *band = ring + (bands - 1) * band_bytes;
    for (first = 0; first < pixels; first += PQK_MVE_GATHER_PIXELS) {
        const int32_t count = pixels - first < PQK_MVE_GATHER_PIXELS ? pixels - first : PQK_MVE_GATHER_PIXELS;
        int8_t *const out = output + first * out_c;
        /* a block inside one output row (not its last pixel), its band built: the pixels one stride apart */
        const int in_row = count == PQK_MVE_GATHER_PIXELS && ox + PQK_MVE_GATHER_PIXELS < output_w &&
                           (!pads || line == built);
        if (in_row) {
            x[0] = (pads ? band : row) + ox * column_bytes;
            for (lane = 1; lane < PQK_MVE_GATHER_PIXELS; ++lane) {
                x[lane] = x[lane - 1] + column_bytes;
            }
            ox += PQK_MVE_GATHER_PIXELS;
        } else {
            for (lane = 0; lane < count; ++lane) {
                if (!pads) {
                    x[lane] = row + ox * column_bytes;
                } else {
                    if (line != built) {
                        band = band == ring + (bands - 1) * band_bytes ? ring : band + band_bytes;
                        pqk_mve_band(win, image, oy, padding, band);
                        built = line;
                    }
                    x[lane] = band + ox * column_bytes;
                }
                if (++ox == output_w) {
                    ox = 0;
                    ++line;
                    row += row_step;
                    if (++oy == output_h) {
                        oy = 0;
                        image += image_bytes;
                        row = image - win->pad_top * input_w * channels - win->pad_left * channels;
                    }
                }
            }
            for (; lane < PQK_MVE_GATHER_PIXELS; ++lane) {
                x[lane] = x[count - 1]; /* the missing pixels of the last block: sums never stored */
            }
        }
        if (taps) {
            uint32x4_t offsets = consecutive;
            if (!in_row) {
                uint32_t apart[PQK_MVE_GATHER_PIXELS];
                for (lane = 0; lane < PQK_MVE_GATHER_PIXELS; ++lane) {
                    /* wraps below x0 (a band before the input): the gather's address wraps alike */
                    apart[lane] = (uint32_t)((uintptr_t)x[lane] - (uintptr_t)x[0]);
                }
                offsets = vld1q_u32(apart);
            }
            pqk_mve_gather_tap_sums((const int32_t *)stream, counts, out_c, x[0], offsets, sums);
        } else {
            pqk_mve_gather_sums((const uint16_t *)stream, counts, out_c, x[0], x[1], x[2], x[3], sums);
        }
        if (usual && count == PQK_MVE_GATHER_PIXELS) {
            pqk_mve_requantize_groups(rq, sums, out_c / 4, out, out_c);
            pqk_mve_requantize_pixels(rq, sums, out_c, out, count, out_c / 4,
                                      PQK_MVE_NEGATIVES_CLAMPED | PQK_MVE_NO_LEFT_SHIFT);
        } else if (usual) {
            pqk_mve_requantize_pixels(rq, sums, out_c, out, count, 0, PQK_MVE_NEGATIVES_CLAMPED | PQK_MVE_NO_LEFT_SHIFT);
        } else {
            pqk_mve_requantize_pixels(rq, sums, out_c, out, count, 0, 0);
        }
    }
}

#endif /* PQK_HAVE_MVE */

#endif /* PQK_MVE_H */
