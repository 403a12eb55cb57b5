/* Helpers of the kernel variants for cores without the DSP extension (*_smlal.c, *_mla.c): ARMv7-M
 * has 32-bit MUL/MLA, the 64-bit SMULL/SMLAL, SXTB with rotation, SSAT, LDRD and LDM, but no SIMD
 * multiplies. pqk_dsp.h's fast requantization compiles there to SMULL/ADDS/ADC/ASR/SSAT (its plain-C
 * forms), so these kernels share it, and its im2col row, with the DSP kernels.
 *
 * Channel pairs (pqk_mcu/codegen/weights.py encode_channel_pairs): one int32 word holds the weights of
 * two output channels at one column, w_even + w_odd * 2^23. x * word accumulated in 64 bits over the
 * columns is S_even + S_odd * 2^23, exact, and one SMLAL does both multiply-accumulates; the lanes
 * separate exactly when S_even stays in [-2^22, 2^22), which the compiler checks for int8 inputs
 * before it offers a *_smlal kernel (128 * sum |w_even| < 2^22). Accumulators start at 2^22, so that
 * the low lane is the low 23 bits, unsigned: pqk_pair_low() and pqk_pair_high() take them apart
 * (from the two words of the accumulator, as SMLAL leaves them).
 */
#ifndef PQK_MLA_H
#define PQK_MLA_H

#include <stdint.h>

#include "pqk_dsp.h"

#define PQK_PAIR_LANE_BITS 23
#define PQK_PAIR_START (1u << (PQK_PAIR_LANE_BITS - 1))

/* S_even from the low word of a pair accumulator that started at PQK_PAIR_START. */
static inline int32_t pqk_pair_low(uint32_t low_word)
{
    return (int32_t)(low_word & ((1u << PQK_PAIR_LANE_BITS) - 1u)) - (int32_t)PQK_PAIR_START;
}

/* S_odd from both words of the same accumulator: the bits above the low lane, which holds
 * S_even + 2^22 >= 0 (|S_odd| < 2^31, so the 64-bit shift fits one word). */
static inline int32_t pqk_pair_high(uint32_t low_word, uint32_t high_word)
{
    return (int32_t)((low_word >> PQK_PAIR_LANE_BITS) | (high_word << (32 - PQK_PAIR_LANE_BITS)));
}

/* The same from an accumulator that started at 0 (its first product from SMULL): the low lane
 * sign-extended, and the bits above it plus the borrow that a negative low lane took from them. */
static inline int32_t pqk_pair_low_from_zero(uint32_t low_word)
{
    return (int32_t)(low_word << (32 - PQK_PAIR_LANE_BITS)) >> (32 - PQK_PAIR_LANE_BITS);
}
static inline int32_t pqk_pair_high_from_zero(uint32_t low_word, uint32_t high_word)
{
    return pqk_pair_high(low_word, high_word) + (int32_t)((uint32_t)pqk_pair_low_from_zero(low_word) >> 31);
}

/* bias + sum modulo 2^32, as the portable kernels' int32 accumulator wraps on every core. */
static inline int32_t pqk_pair_sum(int32_t bias, int32_t sum)
{
    return (int32_t)((uint32_t)bias + (uint32_t)sum);
}

/* Two pixels' sums of one channel pair: pair accumulators (low and high words) += x * words over
 * ``columns`` columns (a multiple of 4, at least 4). words: the pair's word per column; x: per column
 * the two pixels' inputs as int32, interleaved ([column][pixel]), ending at x_end. Per two columns
 * one LDM loads both pair words, one LDM the four inputs, and four SMLAL do eight MACs.
 * Register map of the loop: r2, r3 the words of columns k, k + 1; r4, r5 pixels 0, 1 of column k,
 * r6, r8 of column k + 1 (ascending, as LDM fills them; r7 stays free for a frame pointer); the
 * accumulators, both pointers and x_end wherever the compiler puts them. */
static inline __attribute__((always_inline)) void pqk_pair_dot2(const int32_t *words, const int32_t *x,
                                                                const int32_t *x_end, uint32_t *low0,
                                                                uint32_t *high0, uint32_t *low1, uint32_t *high1)
{
#if defined(__arm__) && defined(__thumb2__)
    register int32_t w0 __asm__("r2");
    register int32_t w1 __asm__("r3");
    register int32_t x00 __asm__("r4");
    register int32_t x01 __asm__("r5");
    register int32_t x10 __asm__("r6");
    register int32_t x11 __asm__("r8");
    uint32_t lo0 = PQK_PAIR_START, hi0 = 0, lo1 = PQK_PAIR_START, hi1 = 0;
#define PQK_PAIR_STEP                                                                                    \
    "ldm %[words]!, {%[w0], %[w1]}\n\t"                                                                  \
    "ldm %[x]!, {%[x00], %[x01], %[x10], %[x11]}\n\t"                                                    \
    "smlal %[lo0], %[hi0], %[x00], %[w0]\n\t"                                                            \
    "smlal %[lo1], %[hi1], %[x01], %[w0]\n\t"                                                            \
    "smlal %[lo0], %[hi0], %[x10], %[w1]\n\t"                                                            \
    "smlal %[lo1], %[hi1], %[x11], %[w1]\n\t"
    __asm__("1:\n\t" PQK_PAIR_STEP PQK_PAIR_STEP
            "cmp %[x], %[x_end]\n\t"
            "bne 1b"
            : [lo0] "+r"(lo0), [hi0] "+r"(hi0), [lo1] "+r"(lo1), [hi1] "+r"(hi1), [words] "+r"(words), [x] "+r"(x),
              [w0] "=&r"(w0), [w1] "=&r"(w1), [x00] "=&r"(x00), [x01] "=&r"(x01), [x10] "=&r"(x10), [x11] "=&r"(x11)
            : [x_end] "r"(x_end)
            : "cc", "memory");
#undef PQK_PAIR_STEP
    *low0 = lo0, *high0 = hi0, *low1 = lo1, *high1 = hi1;
#else
    int64_t acc0 = PQK_PAIR_START, acc1 = PQK_PAIR_START;
    for (; x != x_end; x += 2, ++words) {
        acc0 += (int64_t)x[0] * words[0];
        acc1 += (int64_t)x[1] * words[0];
    }
    *low0 = (uint32_t)(uint64_t)acc0, *high0 = (uint32_t)((uint64_t)acc0 >> 32);
    *low1 = (uint32_t)(uint64_t)acc1, *high1 = (uint32_t)((uint64_t)acc1 >> 32);
#endif
}

#endif /* PQK_MLA_H */
