/* pqk_fully_connected_s8_csr_pairs_dsp: int8 FULLY_CONNECTED with sparse weights as column pairs and
 * singles, DSP extension.
 *
 * input   [batches][input_features]                int8
 * weights uint32 stream (pqk_mcu.codegen.weights.encode_column_pairs), per output feature:
 *         header   d | pair_passes << 4 | single_passes << 16: the passes of two groups over its pairs
 *                  and singles, d = 3 * P + S with P, S = 0 (no groups), 1 (an even count), 2 (odd)
 *         pairs    groups of two (w_j | w_j+1 << 16, 2 * j) for two nonzeros in adjacent columns j, j + 1
 *                  (int16 values, the byte offset of x[j] in the widened row); an odd last pair padded
 *                  with (0, 0)
 *         singles  groups of four w_j << 16 | 2 * j for the other nonzeros; the last group padded with 0;
 *                  in a layer of at most NARROW_FEATURES inputs halfwords 2 * j | w_j << 8 instead, groups
 *                  of four in two words (8 bytes per group)
 * output  [batches][output_features]               int8 in [activation_min, activation_max]
 * scratch pqk_fully_connected_s8_csr_pairs_dsp_buffer_size() bytes, 4-byte aligned: one input row widened
 *         to int16 and one zero after it
 * acc = folded bias + sum(w * x); requantized per output feature (or once per layer, per_channel 0).
 * Same bytes as pqk_fully_connected_s8_csr. input_features < 8192 (16-bit offsets and byte counts).
 *
 * A pair takes one LDR of (x[j], x[j + 1]) at its offset and one SMLAD; a single one UXTAH of its
 * address, one LDRSH and one SMLABT (its value is the word's top half); two narrow singles one SXTB16
 * of their values, then each one UXTAB, one LDRSH and one SMLABx. One LDM per group (per two groups of
 * narrow singles), two groups per loop pass (an odd group count enters at the second), in assembly on
 * cores with the DSP extension. A layer requantized once onto all of int8 (the usual
 * one) is requantized in the same assembly as each row ends (requant_rows: pqk_dsp.h's fast form with
 * its sign term, exact with or without PQK_FAST_NEGATIVES_CLAMPED); in the others the accumulators of
 * up to CHUNK rows go to the stack (row_sums), then C requantizes them with the fast form; under
 * PQK_FAST_CHECKED (requant.checked) every output whose channel or accumulator is outside its bounds
 * takes the exact form instead.
 */
#include "pqk_dsp.h"

/* Rows accumulated per row_sums() call (int32 each on the stack). */
#define CHUNK 32
/* Layers of at most this many inputs store singles as halfwords (8-bit offsets into the widened row;
 * weights.PAIRS_NARROW_FEATURES). */
#define NARROW_FEATURES 128

int32_t pqk_fully_connected_s8_csr_pairs_dsp_buffer_size(const pqk_fully_connected_s8_params_t *params)
{
    return 2 * ((params->input_features + 4) & ~3);
}

/* x[0 .. features) -> table[0 .. features] as int16, table[features] = 0. */
static void widen_row(const int8_t *x, int32_t features, int16_t *table)
{
    const int8_t *const quads_end = x + (features & ~3);
    uint32_t *words = (uint32_t *)(void *)table;
    int32_t i;
    while (x != quads_end) {
        const uint32_t word = pqk_load_s8x4(x);
        const uint32_t even = pqk_sxtb16(word), odd = pqk_sxtb16_ror8(word);
        words[0] = pqk_pack_low_halves(even, odd);
        words[1] = pqk_pack_high_halves(even, odd);
        words += 2;
        x += 4;
    }
    for (i = features & ~3; i < features; ++i) {
        table[i] = *x++;
    }
    table[features] = 0;
}

#if PQK_HAVE_DSP
_Static_assert(__builtin_offsetof(pqk_fast_requant_t, multiplier) == 0, "requant_rows loads it first");
_Static_assert(__builtin_offsetof(pqk_fast_requant_t, right_shift) == 4, "requant_rows loads it second");
_Static_assert(__builtin_offsetof(pqk_fast_requant_t, offset) == 8, "requant_rows loads it third");

/* row_sums: sums[0 .. sums_end) = bias[i] + row i of the stream times the widened row x; returns the
 * stream after those rows. requant_rows: the same rows requantized per layer into out[0 .. out_end)
 * (pqk_fast_requantize() with the sign term, exact in both PQK_FAST_FULL_RANGE modes). *_narrow: singles
 * as halfwords.
 * Registers: r0 x, r1 stream, r3 the accumulator, r4-r7 a group's words (a pair's offset becomes its inputs; at a row's end requant_rows' multiplier, right shift and offset),
 * r8 sums or out, r9 their end, r10 bias (the fifth argument, on the stack), r11 the row's header (then
 * two narrow singles' values), r12 its dispatch code (then a single's address and input), r2 and lr the
 * row's pair and single passes left. requant_rows copies the pqk_fast_requant_t (the sixth argument) to
 * the top of its stack. Thumb-2 with DSP. */
#define PQK_PAIRS                                                                                          \
        "ldm    r1!, {r4-r7}\n\t"                                                                       \
        "ldr    r5, [r0, r5]\n\t"                                                                       \
        "smlad  r3, r4, r5, r3\n\t"                                                                     \
        "ldr    r7, [r0, r7]\n\t"                                                                       \
        "smlad  r3, r6, r7, r3\n\t"
#define PQK_SINGLE(word)                                                                                   \
        "uxtah  r12, r0, " word "\n\t"                                                                  \
        "ldrsh  r12, [r12]\n\t"                                                                         \
        "smlabt r3, r12, " word ", r3\n\t"
#define PQK_NARROW_SINGLES(word)                                                                           \
        "sxtb16 r11, " word ", ror #8\n\t"                                                              \
        "uxtab  r12, r0, " word "\n\t"                                                                  \
        "ldrsh  r12, [r12]\n\t"                                                                         \
        "smlabb r3, r12, r11, r3\n\t"                                                                   \
        "uxtab  r12, r0, " word ", ror #16\n\t"                                                         \
        "ldrsh  r12, [r12]\n\t"                                                                         \
        "smlabt r3, r12, r11, r3\n\t"
#define PQK_SINGLES "ldm    r1!, {r4-r7}\n\t" PQK_SINGLE("r4") PQK_SINGLE("r5") PQK_SINGLE("r6") PQK_SINGLE("r7")
/* The rows from r1 on into r8 .. r9, each ended by row_end (which stores the accumulator, r3). A row's
 * header holds its dispatch code d = 3 * P + S (bits 0-3; P, S: 0 none, 1 an even, 2 an odd group count
 * of pairs, singles), its pair passes (bits 4-15) and single passes (bits 16-31), two groups a pass; TBB on
 * d enters the pairs loop (at its second group for an odd count) that ends in the singles loop of S
 * (three copies), or the singles loop, or the row's end. odd_entry: loads the one group of an odd single
 * count and branches to 6 (the pass's second group); first, second: the pass's two groups of singles. */
#define PQK_PAIRS_LOOP(first, second, next)                                                                \
        first ":\n\t"                                                                                   \
        PQK_PAIRS                                                                                        \
        second ":\n\t"                                                                                  \
        PQK_PAIRS                                                                                        \
        "subs   r2, r2, #1\n\t"                                                                         \
        "bne.w  " first "b\n\t"                                                                         \
        next
#define PQK_ROWS(odd_entry, first, second, row_end)                                                        \
        "1:\n\t"                                                                                        \
        "ldr    r11, [r1], #4\n\t"                                                                      \
        "ldr    r3, [r10], #4\n\t"                                                                      \
        "and    r12, r11, #15\n\t"                                                                      \
        "ubfx   r2, r11, #4, #12\n\t"                                                                   \
        "lsr    lr, r11, #16\n\t"                                                                       \
        "tbb    [pc, r12]\n\t"                                                                          \
        "10:\n\t"                                                                                       \
        ".byte  (7f - 10b) / 2, (5f - 10b) / 2, (4f - 10b) / 2\n\t"                                     \
        ".byte  (20f - 10b) / 2, (21f - 10b) / 2, (22f - 10b) / 2\n\t"                                  \
        ".byte  (30f - 10b) / 2, (31f - 10b) / 2, (32f - 10b) / 2, 0\n\t"                               \
        PQK_PAIRS_LOOP("20", "30", "b.w    7f\n\t")                                                     \
        PQK_PAIRS_LOOP("21", "31", "b.w    5f\n\t")                                                     \
        PQK_PAIRS_LOOP("22", "32", "")                                                                  \
        "4:\n\t"                                                                                        \
        odd_entry                                                                                        \
        "5:\n\t"                                                                                        \
        first                                                                                            \
        "6:\n\t"                                                                                        \
        second                                                                                           \
        "subs   lr, lr, #1\n\t"                                                                         \
        "bne.w  5b\n\t"                                                                                 \
        "7:\n\t"                                                                                        \
        row_end                                                                                          \
        "cmp    r8, r9\n\t"                                                                             \
        "bne.w  1b\n\t"
#define PQK_ROW_SUMS(rows)                                                                                 \
    __asm__ volatile(                                                                                    \
        "ldr    r12, [sp]\n\t"                                                                          \
        "push   {r4-r11, lr}\n\t"                                                                       \
        "mov    r8, r2\n\t"                                                                             \
        "mov    r9, r3\n\t"                                                                             \
        "mov    r10, r12\n\t"                                                                           \
        rows                                                                                             \
        "mov    r0, r1\n\t"                                                                             \
        "pop    {r4-r11, pc}\n\t")
#define PQK_REQUANT_ROWS(rows)                                                                             \
    __asm__ volatile(                                                                                    \
        "ldr    r12, [sp, #4]\n\t"                                                                      \
        "push   {r4-r11, lr}\n\t"                                                                       \
        "ldr    r10, [sp, #36]\n\t"                                                                     \
        "ldm    r12, {r4-r6}\n\t"                                                                       \
        "push   {r4-r6}\n\t"                                                                            \
        "mov    r8, r2\n\t"                                                                             \
        "mov    r9, r3\n\t"                                                                             \
        rows                                                                                             \
        "mov    r0, r1\n\t"                                                                             \
        "add    sp, sp, #12\n\t"                                                                        \
        "pop    {r4-r11, pc}\n\t")
#define PQK_STORE_SUM "str    r3, [r8], #4\n\t"
#define PQK_STORE_REQUANTIZED                                                                              \
        "ldm    sp, {r4-r6}\n\t"                                                                        \
        "add    r6, r6, r3, asr #31\n\t"                                                                \
        "add    r3, r3, r3\n\t"                                                                         \
        "smmlar r3, r3, r4, r6\n\t"                                                                     \
        "asr    r3, r3, r5\n\t"                                                                         \
        "ssat   r3, #8, r3\n\t"                                                                         \
        "strb   r3, [r8], #1\n\t"
#define PQK_WIDE_ROWS(row_end) PQK_ROWS("b.w    6f\n\t", PQK_SINGLES, PQK_SINGLES, row_end)
#define PQK_NARROW_ROWS(row_end)                                                                           \
    PQK_ROWS("ldm    r1!, {r6, r7}\n\tb.w    6f\n\t",                                          \
             "ldm    r1!, {r4-r7}\n\t" PQK_NARROW_SINGLES("r4") PQK_NARROW_SINGLES("r5"),                  \
             PQK_NARROW_SINGLES("r6") PQK_NARROW_SINGLES("r7"), row_end)
static __attribute__((naked, noinline)) const uint32_t *row_sums(const int16_t *x __attribute__((unused)),
                                                                const uint32_t *stream __attribute__((unused)),
                                                                int32_t *sums __attribute__((unused)),
                                                                const int32_t *sums_end __attribute__((unused)),
                                                                const int32_t *bias __attribute__((unused)))
{
    PQK_ROW_SUMS(PQK_WIDE_ROWS(PQK_STORE_SUM));
}
static __attribute__((naked, noinline)) const uint32_t *row_sums_narrow(
    const int16_t *x __attribute__((unused)), const uint32_t *stream __attribute__((unused)),
    int32_t *sums __attribute__((unused)), const int32_t *sums_end __attribute__((unused)),
    const int32_t *bias __attribute__((unused)))
{
    PQK_ROW_SUMS(PQK_NARROW_ROWS(PQK_STORE_SUM));
}
static __attribute__((naked, noinline)) const uint32_t *requant_rows(
    const int16_t *x __attribute__((unused)), const uint32_t *stream __attribute__((unused)),
    int8_t *out __attribute__((unused)), const int8_t *out_end __attribute__((unused)),
    const int32_t *bias __attribute__((unused)), const pqk_fast_requant_t *q __attribute__((unused)))
{
    PQK_REQUANT_ROWS(PQK_WIDE_ROWS(PQK_STORE_REQUANTIZED));
}
static __attribute__((naked, noinline)) const uint32_t *requant_rows_narrow(
    const int16_t *x __attribute__((unused)), const uint32_t *stream __attribute__((unused)),
    int8_t *out __attribute__((unused)), const int8_t *out_end __attribute__((unused)),
    const int32_t *bias __attribute__((unused)), const pqk_fast_requant_t *q __attribute__((unused)))
{
    PQK_REQUANT_ROWS(PQK_NARROW_ROWS(PQK_STORE_REQUANTIZED));
}
#undef PQK_NARROW_ROWS
#undef PQK_WIDE_ROWS
#undef PQK_STORE_REQUANTIZED
#undef PQK_STORE_SUM
#undef PQK_REQUANT_ROWS
#undef PQK_ROW_SUMS
#undef PQK_ROWS
#undef PQK_PAIRS_LOOP
#undef PQK_SINGLES
#undef PQK_NARROW_SINGLES
#undef PQK_SINGLE
#undef PQK_PAIRS
#else
/* The value and input offset of a single from its word (narrow: the halfword of the word at stream). */
static int32_t single_product(const int16_t *x, const uint32_t *stream, int32_t k, int narrow)
{
    if (narrow) {
        const uint32_t half = stream[k / 2] >> (16 * (k % 2));
        return (int8_t)(half >> 8 & 0xFFu) * x[(half & 0xFFu) / 2];
    }
    return (int16_t)(stream[k] >> 16) * x[(stream[k] & 0xFFFFu) / 2];
}
static const uint32_t *row_sums_any(const int16_t *x, const uint32_t *stream, int32_t *sums, const int32_t *sums_end,
                                    const int32_t *bias, int narrow)
{
    for (; sums != sums_end; ++sums) {
        const uint32_t header = *stream++;
        const uint32_t dispatch = header & 15u;
        /* a kind's groups: two per pass, one fewer where its count is odd (its dispatch digit 2) */
        const uint32_t pair_groups = 2 * (header >> 4 & 0xFFFu) - (dispatch / 3 == 2);
        const uint32_t single_groups = 2 * (header >> 16) - (dispatch % 3 == 2);
        const uint32_t *const pairs_end = stream + 4 * pair_groups;
        const int32_t singles = (int32_t)(4 * single_groups);
        int32_t acc = *bias++;
        int32_t k;
        for (; stream != pairs_end; stream += 2) {
            const int16_t *const pair = x + stream[1] / 2;
            acc += (int16_t)(stream[0] & 0xFFFFu) * pair[0] + (int16_t)(stream[0] >> 16) * pair[1];
        }
        for (k = 0; k < singles; ++k) {
            acc += single_product(x, stream, k, narrow);
        }
        stream += narrow ? 2 * single_groups : 4 * single_groups;
        *sums = acc;
    }
    return stream;
}
static const uint32_t *row_sums(const int16_t *x, const uint32_t *stream, int32_t *sums, const int32_t *sums_end,
                                const int32_t *bias)
{
    return row_sums_any(x, stream, sums, sums_end, bias, 0);
}
static const uint32_t *row_sums_narrow(const int16_t *x, const uint32_t *stream, int32_t *sums,
                                       const int32_t *sums_end, const int32_t *bias)
{
    return row_sums_any(x, stream, sums, sums_end, bias, 1);
}
#endif

/* out[i] = the requantized sums[i] for i < rows; the channels' constants from first_channel on (per
 * channel) or layer_q. */
static inline __attribute__((always_inline)) void requantize_rows(const int32_t *sums, int32_t rows, int8_t *out,
                                                                  const pqk_requant_s8_t *rq, int32_t first_channel,
                                                                  int32_t per_channel,
                                                                  const pqk_fast_requant_t *layer_q, int mode)
{
    const int32_t activation_min = rq->activation_min, activation_max = rq->activation_max;
    const int32_t *const sums_end = sums + rows;
    if (per_channel) {
        const int32_t *multiplier = rq->multiplier + first_channel;
        const int8_t *shift = rq->shift + first_channel;
        const uint32_t odd_zero_point = pqk_odd_zero_point(rq);
        while (sums != sums_end) {
            const pqk_fast_requant_t q = pqk_fast_requant_make(*multiplier++, *shift++, odd_zero_point, mode);
            *out++ = pqk_fast_clamp(pqk_fast_requantize(*sums++, &q, mode), mode, activation_min, activation_max);
        }
    } else {
        const pqk_fast_requant_t q = *layer_q;
        while (sums != sums_end) {
            *out++ = pqk_fast_clamp(pqk_fast_requantize(*sums++, &q, mode), mode, activation_min, activation_max);
        }
    }
}

/* One mode's layer: per input row its widened copy, then per chunk the row sums and their requantization. */
static inline __attribute__((always_inline)) void run(const pqk_fully_connected_s8_params_t *params,
                                                      const uint32_t *weights, const int8_t *input,
                                                      int8_t *output, int16_t *table, int mode)
{
    const pqk_requant_s8_t *const rq = &params->requant;
    const int32_t features = params->input_features, outputs = params->output_features;
    const pqk_fast_requant_t layer_q = pqk_fast_requant_make(rq->multiplier[0], rq->shift[0], pqk_odd_zero_point(rq),
                                                             mode);
    int32_t sums[CHUNK];
    int32_t b, o;
    for (b = 0; b < params->batches; ++b) {
        int8_t *const out = output + b * outputs;
        const uint32_t *stream = weights;
        widen_row(input + b * features, features, table);
#if PQK_HAVE_DSP
        if (!params->per_channel && (mode & PQK_FAST_FULL_RANGE)) {
            /* per layer onto all of int8: the rows requantized as they end, no sums on the stack */
            if (features <= NARROW_FEATURES) {
                requant_rows_narrow(table, stream, out, out + outputs, rq->bias, &layer_q);
            } else {
                requant_rows(table, stream, out, out + outputs, rq->bias, &layer_q);
            }
            continue;
        }
#endif
        for (o = 0; o < outputs; o += CHUNK) {
            const int32_t rows = outputs - o < CHUNK ? outputs - o : CHUNK;
            stream = features <= NARROW_FEATURES ? row_sums_narrow(table, stream, sums, sums + rows, rq->bias + o)
                                                 : row_sums(table, stream, sums, sums + rows, rq->bias + o);
            requantize_rows(sums, rows, out + o, rq, o, params->per_channel, &layer_q, mode);
        }
    }
}

void pqk_fully_connected_s8_csr_pairs_dsp(const pqk_fully_connected_s8_params_t *params, const uint32_t *weights,
                                          const int8_t *input, int8_t *output, int8_t *scratch)
{
    int16_t *const table = (int16_t *)(void *)scratch;
    /* the usual layers (ReLU onto int8 with zero point -128, no activation) get their own copies of the
     * requantization loop; the others take the general one, which tests the mode per output */
    const int mode = pqk_fast_mode(&params->requant);
    if (mode == (PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED)) {
        run(params, weights, input, output, table, PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED);
    } else if (mode == PQK_FAST_FULL_RANGE) {
        run(params, weights, input, output, table, PQK_FAST_FULL_RANGE);
    } else {
        run(params, weights, input, output, table, mode);
    }
}
