/* pqk_fully_connected_s8_narrow_dsp: int8 FULLY_CONNECTED of few inputs or few outputs, per tensor, onto all of
 * int8 with activation_min >= output zero point (ReLU onto zero point -128), DSP extension (SMLAD).
 *
 * input   [batches][input_features]                 int8
 * weights uint32 (pqk_mcu.codegen.weights.encode_narrow): a header of HEADER_WORDS words, then either format:
 *   records (input_features in [1, 16]; header entry < QUADS): per output feature a record of 1 + pairs words:
 *         2 * folded bias, then the doubled weights as int16 pairs in the order of the widened input row: per
 *         column group g of four, (2 W[o][4g], 2 W[o][4g + 2]) and (2 W[o][4g + 1], 2 W[o][4g + 3]) (low, high
 *         halfword), missing columns and the record's padding to 1, 2, 4 or 8 pairs (input_features 1, up
 *         to 4, up to 8, up to 16) 0;
 *   quads (input_features and output_features multiples of 4; header entry QUADS): the folded bias per output
 *         feature, then the int8 weights in row quads (pqk_fully_connected_s8_dsp's: quad q, column group g,
 *         row r, byte i = W[4q + r][4g + i]).
 *         Header (the assembly's registers, from the lowering): multiplier, offset (pqk_fast_requant_t's),
 *         for records (ceil(output_features / 2) - 1) << 8 | right shift and the entry 2 * (0, 1, 2, 3 for 1,
 *         2, 4, 8 pairs) + output_features % 2, for quads the right shift and QUADS.
 * output  [batches][output_features]                int8
 * no scratch; requant.bias is unused (the bias is in the weights); requant.multiplier, shift and the
 * activation range are the header's (the C twin on cores without DSP reads them)
 * The cost model offers this kernel only within pqk_dsp.h's fast bounds (|acc| < 2^30 for every input), so the
 * records' 2 * acc = 2 * folded bias + sum(2w * x) fits and pqk_fast_requantize_doubled() takes it as is.
 * Same bytes as pqk_fully_connected_s8.
 *
 * Records (narrow_rows): per batch the input row is widened once into at most eight int16 pairs, held in
 * registers (up to four; eight are reloaded from the stack per row); per row one LDM of its bias and weights,
 * one SMLAD per pair and the fast requantization in four instructions (SMMLAR, ASR by the register whose low
 * byte is the shift, SSAT, STRB); two rows per loop pass.
 * Quads (narrow_quads): pqk_fully_connected_s8_dsp's direct loop (per column group one LDR of the input, two
 * SXTB16, one LDM of the quad's four weight words, eight SXTB16 and SMLAD) with the bias loads, the
 * requantization and the stores in the same assembly: none of the C kernel's per-quad and per-call work.
 */
#include <stddef.h>

#include "pqk_dsp.h"

#define MAX_PAIRS 8
#define HEADER_WORDS 4
#define QUADS 8u /* header entry of the quads format */

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
/* One record row: LDM of its bias and weights (into the accumulator and the registers after it), SMLAD per
 * pair, requantized (SMMLAR, ASR, SSAT) and stored. */
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

/* The record rows over one widened input row: weights points at the header, pairs at the row (MAX_PAIRS
 * words). Registers: r0 the records, r1 the output, r2 the multiplier, r3 the offset, r4 the loop count and
 * right shift, r5 .. r(4 + pairs) the widened input (eight pairs: four at a time from a copy on the stack),
 * then the row's accumulator (its bias) and weights; lr the entry until the dispatch. Thumb-2 with DSP:
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

/* narrow_quads's arguments, on the caller's stack. */
typedef struct {
    const int8_t *x;        /* the input row */
    const int8_t *x_end;    /* one past it */
    const uint32_t *bias;   /* the next quad's */
    int8_t *out;            /* the next quad's */
    int32_t quads;          /* left */
    const uint32_t *header; /* multiplier, offset, right shift */
} quads_job_t;
_Static_assert(offsetof(quads_job_t, x) == 0 && offsetof(quads_job_t, x_end) == 4 &&
                   offsetof(quads_job_t, bias) == 8 && offsetof(quads_job_t, out) == 12 &&
                   offsetof(quads_job_t, quads) == 16 && offsetof(quads_job_t, header) == 20,
               "narrow_quads reads these offsets");

/* One column group of the quad: r0 the input, r2 the weights, r4-r7 the four sums, r8/r9 the group's (x0, x2)
 * / (x1, x3), r10-r12 and lr the quad's four weight words, r3 the SXTB16 result. */
#define PQK_ROW(weight, acc)                                                                             \
        "sxtb16 r3, " weight "\n\t"                                                                     \
        "smlad  " acc ", r3, r8, " acc "\n\t"                                                           \
        "sxtb16 " weight ", " weight ", ror #8\n\t"                                                     \
        "smlad  " acc ", " weight ", r9, " acc "\n\t"
#define PQK_GROUP                                                                                        \
        "ldr    r8, [r0], #4\n\t"                                                                      \
        "sxtb16 r9, r8, ror #8\n\t"                                                                    \
        "sxtb16 r8, r8\n\t"                                                                            \
        "ldm    r2!, {r10, r11, r12, lr}\n\t"                                                          \
        PQK_ROW("r10", "r4") PQK_ROW("r11", "r5") PQK_ROW("r12", "r6") PQK_ROW("lr", "r7")
/* 2 * sum requantized (SMMLAR, ASR, SSAT) and stored: r1 the output, r8 the multiplier, r9 the offset, r10 the
 * right shift. */
#define PQK_REQUANTIZE_STORE(sum)                                                                        \
        "lsl    " sum ", " sum ", #1\n\t"                                                               \
        "smmlar " sum ", " sum ", r8, r9\n\t"                                                           \
        "asr    " sum ", " sum ", r10\n\t"                                                              \
        "ssat   " sum ", #8, " sum "\n\t"                                                               \
        "strb   " sum ", [r1], #1\n\t"

/* Every quad over one input row (the job's), w the first quad's weights. Per quad: the bias (the job's,
 * advanced), the groups two per loop pass (an odd count enters at the second), then the header's
 * multiplier, offset and right shift into r8-r10 and the quads left into r11. The job pointer is on the
 * stack ([sp]). */
static __attribute__((naked, noinline)) void narrow_quads(quads_job_t *job __attribute__((unused)),
                                                          const int8_t *w __attribute__((unused)))
{
    __asm__ volatile(
        "push   {r0, r4-r11, lr}\n\t"
        "mov    r2, r1\n\t"
        "3:\n\t"
        "ldr    r3, [sp]\n\t"
        "ldm    r3, {r0, r1, r12}\n\t"
        "ldm    r12!, {r4, r5, r6, r7}\n\t"
        "str    r12, [r3, #8]\n\t"
        "sub    r3, r1, r0\n\t"
        "tst    r3, #4\n\t"
        "bne    2f\n\t"
        "1:\n\t"
        PQK_GROUP
        "2:\n\t"
        PQK_GROUP
        "cmp    r0, r1\n\t"
        "bne    1b\n\t"
        "ldr    r3, [sp]\n\t"
        "ldr    r12, [r3, #20]\n\t"
        "ldm    r12, {r8, r9, r10}\n\t"
        "ldrd   r1, r11, [r3, #12]\n\t"
        PQK_REQUANTIZE_STORE("r4") PQK_REQUANTIZE_STORE("r5") PQK_REQUANTIZE_STORE("r6")
        PQK_REQUANTIZE_STORE("r7")
        "subs   r11, r11, #1\n\t"
        "strd   r1, r11, [r3, #12]\n\t"
        "bne    3b\n\t"
        "pop    {r0, r4-r11, pc}\n\t");
}
#undef PQK_REQUANTIZE_STORE
#undef PQK_GROUP
#undef PQK_ROW

void pqk_fully_connected_s8_narrow_dsp(const pqk_fully_connected_s8_params_t *params, const uint32_t *weights,
                                       const int8_t *input, int8_t *output)
{
    const int32_t features = params->input_features, outputs = params->output_features;
    int32_t b;
    if (weights[3] == QUADS) {
        quads_job_t job;
        job.header = weights;
        for (b = 0; b < params->batches; ++b) {
            job.x = input;
            job.x_end = input + features;
            job.bias = weights + HEADER_WORDS;
            job.out = output;
            job.quads = outputs / 4;
            narrow_quads(&job, (const int8_t *)(weights + HEADER_WORDS + outputs));
            input += features;
            output += outputs;
        }
        return;
    }
    {
        uint32_t pairs[MAX_PAIRS]; /* the words past the row stay unset: their weights are 0 */
        for (b = 0; b < params->batches; ++b) {
            widen_row(input, features, pairs);
            narrow_rows(weights, output, pairs);
            input += features;
            output += outputs;
        }
    }
}
#else
/* Pairs per record: 1, 2, 4 or 8 (the assembly's entry has them). */
static int32_t record_pairs(int32_t features)
{
    return features == 1 ? 1 : features <= 4 ? 2 : features <= 8 ? 4 : 8;
}

/* The C twin (cores without DSP, the host): the same sums and requantization. */
void pqk_fully_connected_s8_narrow_dsp(const pqk_fully_connected_s8_params_t *params, const uint32_t *weights,
                                       const int8_t *input, int8_t *output)
{
    const int mode = PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED;
    const int32_t features = params->input_features, outputs = params->output_features;
    const pqk_fast_requant_t q = pqk_fast_requant_channel(&params->requant, 0, mode);
    const int quads = weights[3] == QUADS;
    const int32_t pairs_per_row = record_pairs(features), groups = features / 4;
    const int8_t *const quad_weights = (const int8_t *)(weights + HEADER_WORDS + outputs);
    uint32_t pairs[MAX_PAIRS] = {0};
    int32_t b, o, p, g;
    for (b = 0; b < params->batches; ++b) {
        const uint32_t *record = weights + HEADER_WORDS;
        const int8_t *const x = input + b * features;
        int8_t *const out = output + b * outputs;
        if (!quads) {
            widen_row(x, features, pairs);
        }
        for (o = 0; o < outputs; ++o) {
            int32_t twice_acc;
            if (quads) {
                int32_t acc = (int32_t)weights[HEADER_WORDS + o];
                for (g = 0; g < groups; ++g) {
                    const uint32_t word = pqk_load_s8x4(quad_weights + ((o / 4 * groups + g) * 4 + o % 4) * 4);
                    const uint32_t xs = pqk_load_s8x4(x + 4 * g);
                    acc = pqk_smlad(pqk_sxtb16(word), pqk_sxtb16(xs), acc);
                    acc = pqk_smlad(pqk_sxtb16_ror8(word), pqk_sxtb16_ror8(xs), acc);
                }
                twice_acc = acc * 2;
            } else {
                twice_acc = (int32_t)record[0];
                for (p = 0; p < pairs_per_row; ++p) {
                    twice_acc = pqk_smlad(record[1 + p], pairs[p], twice_acc);
                }
                record += 1 + pairs_per_row;
            }
            out[o] = (int8_t)pqk_fast_requantize_doubled(twice_acc, &q, mode);
        }
    }
}
#endif
