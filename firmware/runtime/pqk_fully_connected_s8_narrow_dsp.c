/* pqk_fully_connected_s8_narrow_dsp: int8 FULLY_CONNECTED of at most NARROW_FEATURES input features, dense
 * weights pre-widened to int16 and doubled, DSP extension (SMLAD).
 *
 * input   [batches][input_features]                 int8, input_features in [1, 16]
 * weights uint32 (pqk_mcu.codegen.weights.encode_narrow_rows): a header of HEADER_WORDS words, then per output
 *         feature a record of 1 + record_pairs() words: 2 * folded bias, then the doubled weights as int16
 *         pairs in the order of the widened input row: per column group g of four, (2 W[o][4g], 2 W[o][4g + 2])
 *         and (2 W[o][4g + 1], 2 W[o][4g + 3]) (low, high halfword), missing columns and the record's
 *         padding to 1, 2, 4 or 8 pairs (input_features 1, up to 4, up to 8, up to 16) 0.
 *         Header (the assembly's registers, from the lowering): multiplier, offset (pqk_fast_requant_t's),
 *         (ceil(output_features / 2) - 1) << 8 | right shift, and the entry 2 * (0, 1, 2, 3 for 1, 2, 4, 8
 *         pairs) + output_features % 2, or IN_C for a layer that the C loop runs.
 * output  [batches][output_features]                int8 in [activation_min, activation_max]
 * no scratch; requant.bias is unused (the bias is in the records)
 * 2 * acc = 2 * folded bias + sum(2w * x): |acc| < 2^30 for every input (the cost model offers this kernel
 * only within pqk_dsp.h's fast bounds), so 2 * acc fits and pqk_fast_requantize_doubled() takes it as is.
 * Same bytes as pqk_fully_connected_s8.
 *
 * Per batch the input row is widened once into at most eight int16 pairs. Per-tensor layers onto all of
 * int8 with activation_min >= output zero point (ReLU onto zero point -128, the usual case) run in
 * assembly (narrow_rows): the pairs in registers (up to four; eight are reloaded from the stack per
 * row), one LDM of the record's bias and weights, one SMLAD per pair and the fast requantization in four
 * instructions (SMMLAR, ASR by the register whose low byte is the shift, SSAT, STRB), two rows per loop
 * pass. The other layers (and every layer on the host) take the C loop.
 */
#include "pqk_dsp.h"

#define NARROW_FEATURES 16
#define MAX_PAIRS 8
#define HEADER_WORDS 4
#define IN_C 8u /* header entry of the layers that the C loop runs */

/* Pairs per record: 1, 2, 4 or 8. */
static int32_t record_pairs(int32_t features)
{
    return features == 1 ? 1 : features <= 4 ? 2 : features <= 8 ? 4 : 8;
}

/* x[0 .. features) -> pairs (word 2g = (x[4g], x[4g + 2]), 2g + 1 = (x[4g + 1], x[4g + 3])), missing
 * columns of the last group 0; the words past its last group are left as they are (their weights are 0). */
static void widen_row(const int8_t *x, int32_t features, uint32_t *pairs)
{
    int32_t g = 0, i;
    for (; 4 * g + 4 <= features; ++g) {
        const uint32_t word = pqk_load_s8x4(x + 4 * g);
        pairs[2 * g] = pqk_sxtb16(word);
        pairs[2 * g + 1] = pqk_sxtb16_ror8(word);
    }
    if (features & 3) {
        /* the group's bytes, from the word that ends with the row where the row has one */
        uint32_t last = 0;
        if (features > 4) {
            last = pqk_load_s8x4(x + features - 4) >> (8 * (4 - (features & 3)));
        }
        for (i = 0; features < 4 && i < features; ++i) {
            last |= (uint32_t)(uint8_t)x[i] << (8 * i);
        }
        pairs[2 * g] = pqk_sxtb16(last);
        pairs[2 * g + 1] = pqk_sxtb16_ror8(last);
    }
}

#if PQK_HAVE_DSP
/* One row: LDM of its record (bias and weights into acc and the registers after it), SMLAD per pair,
 * requantized (SMMLAR, ASR, SSAT) and stored. */
#define PQK_REQUANTIZE_STORE(acc)                                                                        \
        "smmlar " acc ", " acc ", r2, r3\n\t"                                                           \
        "asr    " acc ", " acc ", r4\n\t"                                                               \
        "ssat   " acc ", #8, " acc "\n\t"                                                               \
        "strb   " acc ", [r1], #1\n\t"
#define PQK_ROW1 "ldm    r0!, {r6, r7}\n\t"                                                              \
        "smlad  r6, r7, r5, r6\n\t" PQK_REQUANTIZE_STORE("r6")
#define PQK_ROW2 "ldm    r0!, {r7, r8, r9}\n\t"                                                          \
        "smlad  r7, r8, r5, r7\n\t"                                                                     \
        "smlad  r7, r9, r6, r7\n\t" PQK_REQUANTIZE_STORE("r7")
#define PQK_SMLAD4                                                                                       \
        "smlad  r9, r10, r5, r9\n\t"                                                                    \
        "smlad  r9, r11, r6, r9\n\t"                                                                    \
        "smlad  r9, r12, r7, r9\n\t"                                                                    \
        "smlad  r9, lr, r8, r9\n\t"
#define PQK_ROW4 "ldm    r0!, {r9, r10, r11, r12, lr}\n\t" PQK_SMLAD4 PQK_REQUANTIZE_STORE("r9")
#define PQK_ROW8 "ldm    sp, {r5, r6, r7, r8}\n\t"                                                       \
        "ldm    r0!, {r9, r10, r11, r12, lr}\n\t" PQK_SMLAD4                                             \
        "ldrd   r5, r6, [sp, #16]\n\t"                                                                  \
        "ldrd   r7, r8, [sp, #24]\n\t"                                                                  \
        "ldm    r0!, {r10, r11, r12, lr}\n\t" PQK_SMLAD4 PQK_REQUANTIZE_STORE("r9")
#define PQK_LOOP(pairs, row)                                                                             \
        "10" pairs ":\n\t" row                                                                           \
        "11" pairs ":\n\t" row                                                                           \
        "subs   r4, r4, #256\n\t"                                                                       \
        "bpl    10" pairs "b\n\t"                                                                       \
        "b      9f\n\t"

/* Rows over one widened input row: weights points at the header, pairs at the row (MAX_PAIRS words).
 * Registers: r0 the records, r1 the output, r2 the multiplier, r3 the offset, r4 the loop count and right
 * shift, r5 .. r(4 + pairs) the widened input (eight pairs: four at a time from a copy on the stack), then
 * the row's accumulator (its bias) and weights; lr the entry until the dispatch. Thumb-2 with DSP:
 * cortex-m4, m7, m33, m55. */
static __attribute__((naked, noinline)) void narrow_rows(const uint32_t *weights __attribute__((unused)),
                                                         int8_t *output __attribute__((unused)),
                                                         const uint32_t *pairs __attribute__((unused)))
{
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "sub    sp, sp, #32\n\t"
        "mov    r12, r2\n\t"
        "ldm    r0!, {r2, r3, r4, lr}\n\t"
        "ldm    r12, {r5, r6, r7, r8, r9, r10, r11, r12}\n\t"
        "tbb    [pc, lr]\n\t"
        "8:\n\t"
        ".byte  (101f - 8b) / 2, (111f - 8b) / 2, (102f - 8b) / 2, (112f - 8b) / 2\n\t"
        ".byte  (104f - 8b) / 2, (114f - 8b) / 2, (108f - 8b) / 2, (118f - 8b) / 2\n\t"
        ".p2align 1\n\t"
        "108:\n\t"
        "118:\n\t"
        "stm    sp, {r5, r6, r7, r8, r9, r10, r11, r12}\n\t"
        "tst    lr, #1\n\t"
        "bne    118f\n\t"
        PQK_LOOP("8", PQK_ROW8)
        PQK_LOOP("4", PQK_ROW4)
        PQK_LOOP("2", PQK_ROW2)
        PQK_LOOP("1", PQK_ROW1)
        "9:\n\t"
        "add    sp, sp, #32\n\t"
        "pop    {r4-r11, pc}\n\t");
}
#undef PQK_LOOP
#undef PQK_ROW8
#undef PQK_ROW4
#undef PQK_SMLAD4
#undef PQK_ROW2
#undef PQK_ROW1
#undef PQK_REQUANTIZE_STORE
#endif

/* The C loop: any layer (on the host every layer). */
static __attribute__((noinline)) void run(const pqk_fully_connected_s8_params_t *params, const uint32_t *weights,
                                          const int8_t *input, int8_t *output, int mode)
{
    const pqk_requant_s8_t *rq = &params->requant;
    const int32_t features = params->input_features, outputs = params->output_features;
    const int32_t activation_min = rq->activation_min, activation_max = rq->activation_max;
    const int32_t per_channel = params->per_channel, pairs_per_row = record_pairs(features);
    const int32_t *const multipliers = rq->multiplier;
    const int8_t *const shifts = rq->shift;
    const uint32_t odd_zero_point = pqk_odd_zero_point(rq);
    const pqk_fast_requant_t layer_q = pqk_fast_requant_make(multipliers[0], shifts[0], odd_zero_point, mode);
    uint32_t pairs[MAX_PAIRS] = {0};
    int32_t b, o, p;
    for (b = 0; b < params->batches; ++b) {
        const uint32_t *record = weights;
        int8_t *out = output + b * outputs;
        widen_row(input + b * features, features, pairs);
        for (o = 0; o < outputs; ++o) {
            const pqk_fast_requant_t q =
                per_channel ? pqk_fast_requant_make(multipliers[o], shifts[o], odd_zero_point, mode) : layer_q;
            int32_t twice_acc = (int32_t)record[0];
            for (p = 0; p < pairs_per_row; ++p) {
                twice_acc = pqk_smlad(record[1 + p], pairs[p], twice_acc);
            }
            record += 1 + pairs_per_row;
            out[o] = pqk_fast_clamp(pqk_fast_requantize_doubled(twice_acc, &q, mode), mode, activation_min,
                                    activation_max);
        }
    }
}

void pqk_fully_connected_s8_narrow_dsp(const pqk_fully_connected_s8_params_t *params, const uint32_t *weights,
                                       const int8_t *input, int8_t *output)
{
#if PQK_HAVE_DSP
    if (weights[3] != IN_C) {
        const int32_t features = params->input_features, outputs = params->output_features;
        uint32_t pairs[MAX_PAIRS]; /* the words past the row stay unset: their weights are 0 */
        int32_t b;
        for (b = 0; b < params->batches; ++b) {
            widen_row(input, features, pairs);
            narrow_rows(weights, output, pairs);
            input += features;
            output += outputs;
        }
        return;
    }
#endif
    run(params, weights + HEADER_WORDS, input, output, pqk_fast_mode(&params->requant));
}
