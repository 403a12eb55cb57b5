/* DSP-extension helpers for the *_dsp kernel variants (Cortex-M4/M7/M33/M55: ARMv7E-M / v8-M DSP).
 *
 * With __ARM_FEATURE_DSP the helpers are the ACLE intrinsics of <arm_acle.h> (SXTB16, SMLAD,
 * SMLAxy, SSAT) and SMMLAR by inline assembly (ACLE has no intrinsic for it); elsewhere (host gcc,
 * the bit-exactness tests) they are plain C with the same results, so a *_dsp kernel computes the
 * same bytes everywhere. GCC 12's arm_acle.h lacks __ror, hence pqk_ror8.
 *
 * pqk_fast_requantize() is pqk_requantize() + zero point + clamp in six instructions (five under
 * PQK_FAST_NEGATIVES_CLAMPED), exact under the conditions pqk_mcu.codegen.cost_model checks before
 * it picks a *_dsp kernel: |accumulator| < 2^30, shift in [-23, -1], multiplier in {0} or
 * [2^30, 2^31). Derivation (r1 is pqk_srdhm, e = -shift >= 1 the rounding right shift, h = 2^(e-1)):
 *   srdhm(x, m)       = floor((x*m + 2^30) / 2^31)       (gemmlowp's truncating form, m != INT32_MIN)
 *   rdbpot(r1, e)     = floor((r1 + h - [r1 < 0]) / 2^e)
 *   both              = floor((x*m + 2^30 + (h - t) * 2^31) / 2^(31+e)),   t = [x < 0]
 *                       (r1 < 0 differs from x < 0 only where both give the same result)
 *   + zero point zp   = floor((2x*m + 2^31 + 2^32 * (h + zp*2^e - t)) / 2^(32+e))
 *                     = SMMLAR(2x, m, h + zp*2^e - t) >> e.
 * The t term only changes results of negative accumulators, and those all end at activation_min
 * when activation_min >= zp (ReLU, ReLU6): x < 0 and m >= 0 (zero included) give x*m <= 0, so
 * floor((x*m + 2^30) / 2^31) <= 0, the sum before the shift is at most h < 2^e with or without t,
 * and both results are <= zp (SSAT keeps that), as is the exact one; the clamp lifts all three
 * to activation_min. PQK_FAST_NEGATIVES_CLAMPED drops the term (one ADD per output); the Python
 * twin is pqk_mcu.quant.fixed_point.fast_requantize.
 */
#ifndef PQK_DSP_H
#define PQK_DSP_H

#include <stdint.h>
#include <string.h>

#include "pqk_requantize.h"
#include "pqk_runtime.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define PQK_HAVE_DSP 1
#else
#define PQK_HAVE_DSP 0
#endif

static inline uint32_t pqk_ror8(uint32_t x)
{
    return (x >> 8) | (x << 24);
}

/* Four int8 from a possibly unaligned address (Cortex-M LDR handles unaligned words). */
static inline uint32_t pqk_load_s8x4(const int8_t *p)
{
    uint32_t word;
    memcpy(&word, p, sizeof word);
    return word;
}

#if PQK_HAVE_DSP
static inline uint32_t pqk_sxtb16(uint32_t x)
{
    return (uint32_t)__sxtb16((int8x4_t)x);
}
/* SXTB16 of the word rotated by 8 bits: bytes 1 and 3 (one instruction; gcc does not fuse the rotate). */
static inline uint32_t pqk_sxtb16_ror8(uint32_t x)
{
    uint32_t result;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(result) : "r"(x));
    return result;
}
/* Halfword-wise acc + bytes 0 and 2 of x zero-extended (UXTAB16), acc + bytes 1 and 3 (UXTAB16 of
 * x rotated by 8). */
static inline uint32_t pqk_uxtab16(uint32_t acc, uint32_t x)
{
    return (uint32_t)__uxtab16((uint16x2_t)acc, (uint8x4_t)x);
}
static inline uint32_t pqk_uxtab16_ror8(uint32_t acc, uint32_t x)
{
    uint32_t result;
    __asm__("uxtab16 %0, %1, %2, ror #8" : "=r"(result) : "r"(acc), "r"(x));
    return result;
}
/* mask & x rotated left by 8, in one AND of a rotated register (gcc rotates, then ANDs). */
static inline uint32_t pqk_and_rol8(uint32_t mask, uint32_t x)
{
    uint32_t result;
    __asm__("and %0, %1, %2, ror #24" : "=r"(result) : "r"(mask), "r"(x));
    return result;
}
/* Low halfwords of low and high as one word (PKHBT), high halfwords (PKHTB). */
static inline uint32_t pqk_pack_low_halves(uint32_t low, uint32_t high)
{
    uint32_t result;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(result) : "r"(low), "r"(high));
    return result;
}
static inline uint32_t pqk_pack_high_halves(uint32_t low, uint32_t high)
{
    uint32_t result;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(result) : "r"(high), "r"(low));
    return result;
}
/* Halfword-wise acc + SXTB16(x) and acc + SXTB16(x ror 8). */
static inline uint32_t pqk_sxtab16(uint32_t acc, uint32_t x)
{
    return (uint32_t)__sxtab16((int16x2_t)acc, (int8x4_t)x);
}
static inline uint32_t pqk_sxtab16_ror8(uint32_t acc, uint32_t x)
{
    uint32_t result;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(result) : "r"(acc), "r"(x));
    return result;
}
static inline int32_t pqk_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlad((int16x2_t)a, (int16x2_t)b, acc);
}
/* Words p[offset/4] and p[offset/4 + 1] with one LDRD (gcc splits 4-byte-aligned 64-bit loads). */
#define PQK_LOAD_PAIR(p, offset, low, high)                                                              \
    __asm__("ldrd %0, %1, [%2, %3]"                                                                      \
            : "=r"(low), "=r"(high)                                                                      \
            : "r"(p), "I"(offset), "m"(*(const uint32_t(*)[2])(const void *)((const uint8_t *)(p) + (offset))))
static inline int32_t pqk_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlabb((int32_t)a, (int32_t)b, acc);
}
static inline int32_t pqk_smlabt(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlabt((int32_t)a, (int32_t)b, acc);
}
static inline int32_t pqk_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlatt((int32_t)a, (int32_t)b, acc);
}
static inline int32_t pqk_smmlar(int32_t a, int32_t b, int32_t acc)
{
    int32_t result;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(result) : "r"(a), "r"(b), "r"(acc));
    return result;
}
/* result = x << shift, and bit = the last bit shifted out (bit 32 - shift of x), with one LSLS: the
 * bit stays in the carry flag for the caller's branch. */
#define PQK_SHIFT_OUT(x, shift, bit, result)                                                              \
    __asm__("lsls %0, %2, %3" : "=r"(result), "=@cccs"(bit) : "r"(x), "I"(shift))
/* GCC 12's arm_acle.h assigns the unsigned __builtin_arm_ssat result to an int32_t inside the
 * __ssat macro, which -Wconversion reports at every use. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-conversion"
static inline int32_t pqk_ssat8(int32_t x)
{
    return __ssat(x, 8);
}
#pragma GCC diagnostic pop
#else
static inline int32_t pqk_low16(uint32_t x)
{
    return (int32_t)(int16_t)(x & 0xFFFFu);
}
static inline int32_t pqk_high16(uint32_t x)
{
    return (int32_t)(int16_t)(x >> 16);
}
static inline uint32_t pqk_sxtb16(uint32_t x)
{
    const uint32_t low = (uint32_t)(int32_t)(int8_t)(x & 0xFFu) & 0xFFFFu;
    const uint32_t high = (uint32_t)(int32_t)(int8_t)((x >> 16) & 0xFFu) & 0xFFFFu;
    return low | (high << 16);
}
static inline uint32_t pqk_sxtb16_ror8(uint32_t x)
{
    return pqk_sxtb16(pqk_ror8(x));
}
static inline uint32_t pqk_uxtab16(uint32_t acc, uint32_t x)
{
    const uint32_t bytes = x & 0x00FF00FFu;
    return (((acc & 0xFFFFu) + (bytes & 0xFFFFu)) & 0xFFFFu) | (((acc >> 16) + (bytes >> 16)) << 16);
}
static inline uint32_t pqk_uxtab16_ror8(uint32_t acc, uint32_t x)
{
    return pqk_uxtab16(acc, pqk_ror8(x));
}
static inline uint32_t pqk_and_rol8(uint32_t mask, uint32_t x)
{
    return mask & (x << 8 | x >> 24);
}
static inline uint32_t pqk_pack_low_halves(uint32_t low, uint32_t high)
{
    return (low & 0xFFFFu) | (high << 16);
}
static inline uint32_t pqk_pack_high_halves(uint32_t low, uint32_t high)
{
    return (low >> 16) | (high & 0xFFFF0000u);
}
static inline uint32_t pqk_sxtab16(uint32_t acc, uint32_t x)
{
    const uint32_t bytes = pqk_sxtb16(x);
    return (((acc & 0xFFFFu) + (bytes & 0xFFFFu)) & 0xFFFFu) | (((acc >> 16) + (bytes >> 16)) << 16);
}
static inline uint32_t pqk_sxtab16_ror8(uint32_t acc, uint32_t x)
{
    return pqk_sxtab16(acc, pqk_ror8(x));
}
#define PQK_SHIFT_OUT(x, shift, bit, result)                                                              \
    do {                                                                                                 \
        (bit) = (int)(((x) >> (32 - (shift))) & 1u);                                                     \
        (result) = (x) << (shift);                                                                       \
    } while (0)
#define PQK_LOAD_PAIR(p, offset, low, high)                                                              \
    do {                                                                                                 \
        (low) = ((const uint32_t *)(const void *)((const uint8_t *)(p) + (offset)))[0];                 \
        (high) = ((const uint32_t *)(const void *)((const uint8_t *)(p) + (offset)))[1];                \
    } while (0)
static inline int32_t pqk_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(pqk_low16(a) * pqk_low16(b)) + (uint32_t)(pqk_high16(a) * pqk_high16(b)));
}
static inline int32_t pqk_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(pqk_low16(a) * pqk_low16(b)));
}
static inline int32_t pqk_smlabt(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(pqk_low16(a) * pqk_high16(b)));
}
static inline int32_t pqk_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(pqk_high16(a) * pqk_high16(b)));
}
static inline int32_t pqk_smmlar(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)(((int64_t)acc * 4294967296LL + (int64_t)a * (int64_t)b + 2147483648LL) >> 32);
}
static inline int32_t pqk_ssat8(int32_t x)
{
    return x < -128 ? -128 : (x > 127 ? 127 : x);
}
#endif

/* Requantization modes of the *_dsp kernels, a constant at every call site (the kernels
 * instantiate their output loops per mode) so that the compiler drops what a mode does not need. */
enum {
    PQK_FAST_FULL_RANGE = 1,        /* activation range = int8: SSAT is the whole clamp */
    PQK_FAST_NEGATIVES_CLAMPED = 2, /* activation_min >= output zero point: no t term */
    PQK_FAST_CHECKED = 4,           /* requant.checked: test every output against the bounds */
};

/* How pqk_fast_requantize_doubled_as() computes (a constant at every call site): the forms above, or with
 * PQK_FORMS_SMLAL (a kernel for cores without the DSP extension that opts in) the same values in the
 * forms gcc compiles there to MOV + SMLAL (2^31 and the offset as the 64-bit accumulator's words) and
 * SSAT, instead of SMULL + ADDS + ADC and a compare-and-move clamp. */
enum { PQK_FORMS_PLAIN = 0, PQK_FORMS_SMLAL = 1 };

static inline __attribute__((always_inline)) int32_t pqk_smmlar_as(int32_t a, int32_t b, int32_t acc, int forms)
{
    if (forms == PQK_FORMS_SMLAL) {
        return (int32_t)(((int64_t)acc * 4294967296LL + 2147483648LL + (int64_t)a * (int64_t)b) >> 32);
    }
    return pqk_smmlar(a, b, acc);
}
static inline __attribute__((always_inline)) int32_t pqk_ssat8_as(int32_t x, int forms)
{
#if defined(__ARM_FEATURE_SAT) && !PQK_HAVE_DSP
    if (forms == PQK_FORMS_SMLAL) {
        int32_t result;
        __asm__("ssat %0, #8, %1" : "=r"(result) : "r"(x));
        return result;
    }
#endif
    (void)forms;
    return pqk_ssat8(x);
}

/* One output channel's requantization constants (see the derivation above). */
typedef struct {
    int32_t multiplier;
    int32_t right_shift; /* e >= 1; 0 under PQK_FAST_CHECKED: the channel takes the exact form */
    int32_t offset;      /* h + zero_point * 2^e */
    int32_t shift;       /* under PQK_FAST_CHECKED: the channel's shift and output zero point for */
    int32_t zero_point;  /* the exact form (unset otherwise) */
} pqk_fast_requant_t;

/* From one channel's multiplier and shift; odd_zero_point = 2 * output_zero_point + 1 (mod 2^32), so
 * that the offset h + zp * 2^e is odd_zero_point * 2^(e - 1). Under PQK_FAST_CHECKED any multiplier
 * and shift of pqk_requant_s8_t are accepted: those outside the fast form's bounds get right_shift 0. */
static inline __attribute__((always_inline)) pqk_fast_requant_t pqk_fast_requant_make(int32_t multiplier,
                                                                                     int32_t shift,
                                                                                     uint32_t odd_zero_point,
                                                                                     int mode)
{
    pqk_fast_requant_t q;
    q.multiplier = multiplier;
    if (mode & PQK_FAST_CHECKED) {
        const int fast = shift >= -23 && shift <= -1 && (multiplier == 0 || multiplier >= (1 << 30));
        q.right_shift = fast ? -shift : 0;
        q.offset = fast ? (int32_t)(odd_zero_point << (-shift - 1)) : 0;
        q.shift = shift;
        q.zero_point = (int32_t)(odd_zero_point - 1u) >> 1;
        return q;
    }
    q.right_shift = -shift;
    q.offset = (int32_t)(odd_zero_point << (-shift - 1));
    return q;
}

static inline uint32_t pqk_odd_zero_point(const pqk_requant_s8_t *rq)
{
    return (uint32_t)rq->output_zero_point * 2u + 1u;
}

static inline __attribute__((always_inline)) pqk_fast_requant_t pqk_fast_requant_channel(const pqk_requant_s8_t *rq,
                                                                                        int32_t channel, int mode)
{
    return pqk_fast_requant_make(rq->multiplier[channel], rq->shift[channel], pqk_odd_zero_point(rq), mode);
}

/* From a packed row's multiplier_shift word (pqk_packed_csr_s8_t); base_offset =
 * pqk_odd_zero_point() << (right_shift_base - 1), the offset of the row's base shift. */
static inline pqk_fast_requant_t pqk_fast_requant_packed(uint32_t multiplier_shift, int32_t right_shift_base,
                                                         uint32_t base_offset)
{
    const uint32_t code = multiplier_shift >> 30;
    pqk_fast_requant_t q;
    q.multiplier = (int32_t)((multiplier_shift & 0x3FFFFFFFu) | 0x40000000u);
    q.right_shift = right_shift_base + (int32_t)code;
    q.offset = (int32_t)(base_offset << code);
    return q;
}

/* The 4 bytes that end with the record at ``record_end`` (one past its last byte) of a packed
 * CSR, as a signed word: record = word >> (32 - 8 * record_bytes), arithmetic. */
static inline int32_t pqk_packed_word(const uint8_t *record_end)
{
    return (int32_t)pqk_load_s8x4((const int8_t *)record_end - 4);
}

/* The layer's mode. Kernels instantiate PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED (ReLU or
 * ReLU6 onto all of int8, zero point -128: the usual int8 layer), PQK_FAST_FULL_RANGE and a general
 * one, exact for every layer, that runs the modes they leave out as 0 (PQK_FAST_NEGATIVES_CLAMPED
 * alone: a clamp narrower than int8 with its minimum at or above the zero point) and, for a layer
 * the lowering marked requant.checked (a channel outside the fast bounds), as PQK_FAST_CHECKED. */
static inline int pqk_fast_mode_of(int32_t output_zero_point, int32_t activation_min, int32_t activation_max)
{
    const int full_range = activation_min == -128 && activation_max == 127;
    return (full_range ? PQK_FAST_FULL_RANGE : 0) |
           (activation_min >= output_zero_point ? PQK_FAST_NEGATIVES_CLAMPED : 0);
}

static inline int pqk_fast_mode(const pqk_requant_s8_t *rq)
{
    if (rq->checked) {
        return PQK_FAST_CHECKED;
    }
    return pqk_fast_mode_of(rq->output_zero_point, rq->activation_min, rq->activation_max);
}

/* pqk_fast_requantize() of acc from twice_acc = 2 * acc: callers that can accumulate 2 * acc
 * directly (doubled bias and weight) save the doubling; 2 * acc has acc's sign since |acc| < 2^30. */
static inline __attribute__((always_inline)) int32_t pqk_fast_requantize_doubled_as(int32_t twice_acc,
                                                                                    const pqk_fast_requant_t *q,
                                                                                    int mode, int forms)
{
    const int32_t offset = (mode & PQK_FAST_NEGATIVES_CLAMPED) ? q->offset : q->offset + (twice_acc >> 31);
    return pqk_ssat8_as(pqk_smmlar_as(twice_acc, q->multiplier, offset, forms) >> q->right_shift, forms);
}
static inline __attribute__((always_inline)) int32_t pqk_fast_requantize_doubled(int32_t twice_acc,
                                                                                 const pqk_fast_requant_t *q,
                                                                                 int mode)
{
    return pqk_fast_requantize_doubled_as(twice_acc, q, mode, PQK_FORMS_PLAIN);
}

/* requantize(acc) + zero point, saturated to int8; pqk_fast_clamp() with the same mode follows
 * (under PQK_FAST_NEGATIVES_CLAMPED only the clamped value is exact).
 * The same formula as pqk_fast_requantize_doubled(acc * 2, q, mode), kept written out: taking the sign
 * from acc rather than from 2 * acc lets gcc schedule the dense kernels better (calling the doubled form
 * costs +82k instructions on the dense DS-CNN, measured). */
static inline __attribute__((always_inline)) int32_t pqk_fast_requantize(int32_t acc, const pqk_fast_requant_t *q,
                                                                         int mode)
{
    if ((mode & PQK_FAST_CHECKED) && (q->right_shift == 0 || (uint32_t)acc + 0x40000000u >= 0x80000000u)) {
        /* a channel outside the bounds or |acc| >= 2^30: pqk_requantize(), exact for every input */
        return pqk_ssat8(pqk_requantize(acc, q->multiplier, q->shift) + q->zero_point);
    }
    const int32_t offset = (mode & PQK_FAST_NEGATIVES_CLAMPED) ? q->offset : q->offset + (acc >> 31);
    return pqk_ssat8(pqk_smmlar(acc * 2, q->multiplier, offset) >> q->right_shift);
}

/* Clamp to the activation range (nothing to do beyond SSAT under PQK_FAST_FULL_RANGE). */
static inline __attribute__((always_inline)) int8_t pqk_fast_clamp(int32_t value, int mode, int32_t activation_min,
                                                                   int32_t activation_max)
{
    if (!(mode & PQK_FAST_FULL_RANGE)) {
        value = value < activation_min ? activation_min : value;
        value = value > activation_max ? activation_max : value;
    }
    return (int8_t)value;
}

/* Output pixel ``pixel`` (batches x output rows x output columns, in order) of a window: the top-left
 * input position of its window (iy0, ix0; negative in the padding) and its batch's input image. */
static inline const int8_t *pqk_window_origin(const pqk_window_t *win, const int8_t *input, int32_t pixel,
                                              int32_t *iy0, int32_t *ix0)
{
    const int32_t plane = win->output_h * win->output_w;
    const int32_t b = pixel / plane;
    const int32_t oy = (pixel - b * plane) / win->output_w;
    const int32_t ox = pixel - b * plane - oy * win->output_w;
    *iy0 = oy * win->stride_h - win->pad_top;
    *ix0 = ox * win->stride_w - win->pad_left;
    return input + b * win->input_h * win->input_w * win->input_c;
}

/* The im2col row of output pixel ``pixel`` (filter_h * filter_w * input_c bytes, (fh, fw, ic)
 * order, padded taps = zero_point): a pointer into the input when the filter is 1x1 (its row is
 * the input pixel itself), else the row is assembled in ``row`` from one contiguous span per
 * filter row. */
#if defined(__GNUC__) && !defined(__clang__)
/* The spans are a few bytes: calls to newlib's memset/memcpy would cost more than the copies. */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static inline const int8_t *pqk_im2col_row(const pqk_window_t *win, int32_t zero_point, const int8_t *input,
                                           int32_t pixel, int8_t *row)
{
    /* locals: the byte stores below could alias *win as far as the compiler knows */
    const int32_t input_h = win->input_h, input_w = win->input_w, channels = win->input_c;
    const int32_t filter_h = win->filter_h, filter_w = win->filter_w;
    const int32_t dilation_h = win->dilation_h, dilation_w = win->dilation_w;
    int32_t iy0, ix0;
    const int8_t *image = pqk_window_origin(win, input, pixel, &iy0, &ix0);
    const int32_t span = filter_w * channels;
    const int8_t fill = (int8_t)zero_point;
    int8_t *out = row;
    int32_t fy, fx, i;
    if (filter_h == 1 && filter_w == 1) {
        return image + (iy0 * input_w + ix0) * channels;
    }
    for (fy = 0; fy < filter_h; ++fy) {
        const int32_t iy = iy0 + fy * dilation_h;
        const int32_t source = iy * input_w * channels; /* index of the row in image */
        if (iy < 0 || iy >= input_h) {
            for (i = 0; i < span; ++i) {
                out[i] = fill;
            }
        } else if (dilation_w == 1) {
            /* one span: padding left of the input, the taps inside it, padding right of it */
            const int32_t left = ix0 < 0 ? (-ix0 < filter_w ? -ix0 : filter_w) * channels : 0;
            const int32_t right = (input_w - ix0 < filter_w ? input_w - ix0 : filter_w) * channels;
            const int8_t *const x = image + source; /* x[first + i] is tap byte i, inside from i = left */
            const int32_t first = ix0 * channels;
            for (i = 0; i < left; ++i) {
                out[i] = fill;
            }
            for (; i < right; ++i) {
                out[i] = x[first + i];
            }
            for (; i < span; ++i) {
                out[i] = fill;
            }
        } else {
            for (fx = 0; fx < filter_w; ++fx) {
                const int32_t ix = ix0 + fx * dilation_w;
                const int inside = ix >= 0 && ix < input_w;
                for (i = 0; i < channels; ++i) {
                    out[fx * channels + i] = inside ? image[source + ix * channels + i] : fill;
                }
            }
        }
        out += span;
    }
    return row;
}

#endif /* PQK_DSP_H */
