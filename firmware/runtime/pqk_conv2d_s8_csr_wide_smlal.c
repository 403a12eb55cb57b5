/* pqk_conv2d_s8_csr_wide_smlal: int8 CONV_2D, CSR weights of any row length, for cores without the DSP
 * extension (cortex-m3).
 *
 * input  [batches][input_h][input_w][input_c]     int8
 * weights pqk_conv2d_s8_csr_wide_dsp's uint32 stream (pqk_mcu/codegen/weights.py WideCsr): per output
 *           channel twice its folded bias, its nonzeros (2 * value << 16 | last of row << 15 | column),
 *           right shift, offset and multiplier; rows whose lanes separate: 256 * sum |w| < 2^22
 *           (pqk_mcu/codegen/weights.py pixel_pair_lanes_fit)
 * output [batches][output_h][output_w][output_c]  int8 in [activation_min, activation_max]
 * scratch pqk_conv2d_s8_csr_wide_smlal_buffer_size() bytes, 4-byte aligned.
 * Same bytes as pqk_conv2d_s8_csr on the same matrix. Channels outside pqk_dsp.h's fast bounds run the
 * exact form (requant.checked).
 *
 * Output pixels eight at a time, as pqk_conv2d_s8_csr_wide_dsp (pqk_wide_block.h), but a pixel pair's
 * word in a column is x_even + x_odd * 2^23, pqk_mla.h's lane trick applied to pixels: one SMLAL
 * adds the entry's (doubled) value times the word to the pair's 64-bit accumulator, and the lanes
 * separate exactly while twice the even pixel's sum stays in [-2^22, 2^22), which the compiler checks
 * per row before it offers the kernel. A nonzero costs the load of its entry, its value (ASR), its
 * column's address, two LDRD and four SMLAL: 8 MACs. The output may overlap the input as in
 * pqk_conv2d_s8_csr_wide_dsp (blocks run forward or backward).
 */
#include "pqk_mla.h"
#include "pqk_wide_block.h"

/* wide_block_buffer_size() bytes */
int32_t pqk_conv2d_s8_csr_wide_smlal_buffer_size(const pqk_conv2d_s8_params_t *params)
{
    return wide_block_buffer_size(params);
}

/* Per column the pixel pairs' words x_2j + x_2j+1 * 2^23 (exact in an int32 for int8 inputs). The
 * Thumb-2 loop per column: eight LDRSB (the rows' pointers post-incremented), four ADD (the odd pixel
 * shifted by 23) and two STRD; 13 registers: the eight pointers, lanes, end, two words and a temporary. */
static void transpose_rows(const int8_t *const *row, int32_t offset, int32_t size, uint32_t *lanes)
{
    const int8_t *r0 = row[0] + offset, *r1 = row[1] + offset, *r2 = row[2] + offset, *r3 = row[3] + offset;
    const int8_t *r4 = row[4] + offset, *r5 = row[5] + offset, *r6 = row[6] + offset, *r7 = row[7] + offset;
    uint32_t *const end = lanes + PAIRS * size;
#if defined(__arm__) && defined(__thumb2__)
    uint32_t w0, w1, odd;
    if (size == 0) {
        return;
    }
#define PQK_PAIR_WORD(word, even, odd_row)                                                               \
    "ldrsb  %[" word "], [%[" even "]], #1\n\t"                                                          \
    "ldrsb  %[odd], [%[" odd_row "]], #1\n\t"                                                            \
    "add    %[" word "], %[" word "], %[odd], lsl #23\n\t"
    __asm__ volatile("1:\n\t"
            PQK_PAIR_WORD("w0", "r0", "r1") PQK_PAIR_WORD("w1", "r2", "r3")
            "strd   %[w0], %[w1], [%[lanes], #0]\n\t"
            PQK_PAIR_WORD("w0", "r4", "r5") PQK_PAIR_WORD("w1", "r6", "r7")
            "strd   %[w0], %[w1], [%[lanes], #8]\n\t"
            "adds   %[lanes], %[lanes], #16\n\t"
            "cmp    %[lanes], %[end]\n\t"
            "bne    1b"
            : [r0] "+r"(r0), [r1] "+r"(r1), [r2] "+r"(r2), [r3] "+r"(r3), [r4] "+r"(r4), [r5] "+r"(r5),
              [r6] "+r"(r6), [r7] "+r"(r7), [lanes] "+r"(lanes), [w0] "=&r"(w0), [w1] "=&r"(w1), [odd] "=&r"(odd)
            : [end] "r"(end)
            : "cc", "memory");
#undef PQK_PAIR_WORD
#else
    for (; lanes != end; lanes += PAIRS) {
        lanes[0] = (uint32_t)(int32_t)*r0++ + ((uint32_t)(int32_t)*r1++ << PQK_PAIR_LANE_BITS);
        lanes[1] = (uint32_t)(int32_t)*r2++ + ((uint32_t)(int32_t)*r3++ << PQK_PAIR_LANE_BITS);
        lanes[2] = (uint32_t)(int32_t)*r4++ + ((uint32_t)(int32_t)*r5++ << PQK_PAIR_LANE_BITS);
        lanes[3] = (uint32_t)(int32_t)*r6++ + ((uint32_t)(int32_t)*r7++ << PQK_PAIR_LANE_BITS);
    }
#endif
}

/* One row's entries from ``stream`` (up to its trailer, which it returns) into the pixel pairs'
 * accumulators (low and high words; from 0: pqk_pair_low_from_zero()). The Thumb-2 code holds 14
 * registers: the eight accumulator words, the stream, the lanes, the entry (then its value, ASR.W: the
 * flags stay), its column's address (entry << 17: bit 15, the row's end, goes to the carry and the
 * column's 15 bits to the top; >> 13 is column * 16) and two lane words (pairs 2-3 first, then 0-1
 * into the address's register): 11 instructions per nonzero, the first entry's four products by
 * SMULL (no accumulators to clear), the others' by SMLAL. */
static inline __attribute__((always_inline)) const uint32_t *row_sums(const uint32_t *stream, const uint32_t *lanes,
                                                                      uint32_t *low0, uint32_t *high0,
                                                                      uint32_t *low1, uint32_t *high1,
                                                                      uint32_t *low2, uint32_t *high2,
                                                                      uint32_t *low3, uint32_t *high3)
{
#if defined(__arm__) && defined(__thumb2__)
    uint32_t l0, h0, l1, h1, l2, h2, l3, h3;
    uint32_t entry, at, x0, x1;
#define PQK_ENTRY(multiply)                                                                              \
    "ldr    %[entry], [%[stream]], #4\n\t"                                                                \
    "lsls   %[at], %[entry], #17\n\t"                                                                     \
    "add    %[at], %[lanes], %[at], lsr #13\n\t"                                                          \
    "asr.w  %[entry], %[entry], #16\n\t"                                                                  \
    "ldrd   %[x0], %[x1], [%[at], #8]\n\t"                                                                \
    multiply "  %[l2], %[h2], %[entry], %[x0]\n\t"                                                        \
    multiply "  %[l3], %[h3], %[entry], %[x1]\n\t"                                                        \
    "ldrd   %[at], %[x1], [%[at]]\n\t"                                                                    \
    multiply "  %[l0], %[h0], %[entry], %[at]\n\t"                                                        \
    multiply "  %[l1], %[h1], %[entry], %[x1]\n\t"
    __asm__(PQK_ENTRY("smull")
            "bcs    2f\n"
            "1:\n\t"
            PQK_ENTRY("smlal")
            "bcc    1b\n"
            "2:"
            : [l0] "=&r"(l0), [h0] "=&r"(h0), [l1] "=&r"(l1), [h1] "=&r"(h1), [l2] "=&r"(l2), [h2] "=&r"(h2),
              [l3] "=&r"(l3), [h3] "=&r"(h3), [stream] "+r"(stream), [entry] "=&r"(entry), [at] "=&r"(at),
              [x0] "=&r"(x0), [x1] "=&r"(x1)
            : [lanes] "r"(lanes)
            : "cc", "memory");
#undef PQK_ENTRY
    *low0 = l0, *high0 = h0, *low1 = l1, *high1 = h1, *low2 = l2, *high2 = h2, *low3 = l3, *high3 = h3;
#else
    const int32_t *const words = (const int32_t *)(const void *)lanes;
    int64_t acc[PAIRS] = {0, 0, 0, 0};
    uint32_t entry;
    int32_t j;
    do {
        const int32_t *x;
        int32_t value;
        entry = *stream++;
        value = (int32_t)entry >> 16; /* twice the weight */
        x = words + PAIRS * (entry & COLUMN_MASK);
        for (j = 0; j < PAIRS; ++j) {
            acc[j] += (int64_t)value * x[j];
        }
    } while (!(entry & LAST_OF_ROW));
    *low0 = (uint32_t)(uint64_t)acc[0], *high0 = (uint32_t)((uint64_t)acc[0] >> 32);
    *low1 = (uint32_t)(uint64_t)acc[1], *high1 = (uint32_t)((uint64_t)acc[1] >> 32);
    *low2 = (uint32_t)(uint64_t)acc[2], *high2 = (uint32_t)((uint64_t)acc[2] >> 32);
    *low3 = (uint32_t)(uint64_t)acc[3], *high3 = (uint32_t)((uint64_t)acc[3] >> 32);
#endif
    return stream;
}

/* All output channels of one block of ``count`` pixels. Locals hold everything the loops read: the
 * output stores could alias *params as far as the compiler knows. */
static inline __attribute__((always_inline)) void block_channels(const pqk_conv2d_s8_params_t *params,
                                                                 const uint32_t *stream, const uint32_t *lanes,
                                                                 int8_t *output, int32_t count, int mode)
{
    const pqk_requant_s8_t *rq = &params->requant;
    const int32_t out_c = params->window.output_c;
    const int32_t activation_min = rq->activation_min, activation_max = rq->activation_max;
    const uint32_t odd_zero_point = pqk_odd_zero_point(rq);
    int8_t *out = output;
    int32_t oc;
    for (oc = 0; oc < out_c; ++oc) {
        const int32_t twice_bias = (int32_t)*stream++;
        uint32_t low0, high0, low1, high1, low2, high2, low3, high3; /* pixel pairs 0-1 .. 6-7: twice the sums */
        stream = row_sums(stream, lanes, &low0, &high0, &low1, &high1, &low2, &high2, &low3, &high3);
        {
            const pqk_fast_requant_t q = wide_trailer_requant(stream, odd_zero_point, mode);
            int8_t *o = out;
            stream += TRAILER_WORDS;
#define PQK_STORE_PAIR(j, low, high)                                                                     \
    if (count > 2 * (j)) {                                                                               \
        const int32_t even = pqk_pair_low_from_zero(low), odd = pqk_pair_high_from_zero(low, high);      \
        *o = wide_requantize(pqk_pair_sum(twice_bias, even), &q, mode, PQK_FORMS_SMLAL, activation_min,  \
                             activation_max);                                                            \
        o += out_c;                                                                                      \
        if (count > 2 * (j) + 1) {                                                                       \
            *o = wide_requantize(pqk_pair_sum(twice_bias, odd), &q, mode, PQK_FORMS_SMLAL,               \
                                 activation_min, activation_max);                                        \
            o += out_c;                                                                                  \
        }                                                                                                \
    }
            PQK_STORE_PAIR(0, low0, high0)
            PQK_STORE_PAIR(1, low1, high1)
            PQK_STORE_PAIR(2, low2, high2)
            PQK_STORE_PAIR(3, low3, high3)
#undef PQK_STORE_PAIR
        }
        ++out;
    }
}

void pqk_conv2d_s8_csr_wide_smlal(const pqk_conv2d_s8_params_t *params, const uint32_t *weights,
                                  const int8_t *input, int8_t *output, int8_t *scratch)
{
    const pqk_window_t *win = &params->window;
    const int32_t pixels = win->batches * win->output_h * win->output_w;
    const int mode = pqk_fast_mode(&params->requant);
    uint32_t *lanes = (uint32_t *)(void *)scratch;
    int8_t *rows = scratch + PAIRS * (int32_t)sizeof(uint32_t) * columns_of(win);
    const int32_t blocks = (pixels + BLOCK - 1) / BLOCK;
    const int backward = (uintptr_t)output > (uintptr_t)input;
    int32_t step, i;
    if (!is_pointwise(win)) {
        for (i = 0; i < win->filter_w * win->input_c; ++i) {
            rows[i] = (int8_t)params->input_zero_point;
        }
    }
    for (step = 0; step < blocks; ++step) {
        const int32_t first = (backward ? blocks - 1 - step : step) * BLOCK;
        const int32_t count = pixels - first < BLOCK ? pixels - first : BLOCK;
        int8_t *out = output + first * win->output_c;
        gather_block(params, input, first, count, lanes, rows);
        /* Constant count and requantization mode let the compiler drop the tests from the output loop
         * (see pqk_fast_mode()): full blocks of the two usual modes, the others with their count. */
        if (mode & PQK_FAST_CHECKED) {
            block_channels(params, weights, lanes, out, count, PQK_FAST_CHECKED);
        } else if (count != BLOCK) {
            block_channels(params, weights, lanes, out, count, 0);
        } else if (mode == (PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED)) {
            block_channels(params, weights, lanes, out, BLOCK, PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED);
        } else if (mode == PQK_FAST_FULL_RANGE) {
            block_channels(params, weights, lanes, out, BLOCK, PQK_FAST_FULL_RANGE);
        } else {
            block_channels(params, weights, lanes, out, BLOCK, 0);
        }
    }
}
