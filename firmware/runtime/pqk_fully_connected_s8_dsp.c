/* pqk_fully_connected_s8_dsp: int8 FULLY_CONNECTED, dense weights in row quads, DSP extension (SMLAD).
 *
 * input   [batches][input_features]                 int8
 * weights row quads: output features in groups of four (the last group zero-padded), each stored as
 *         column groups of four (the last zero-padded), each group as the four rows' 4-byte words:
 *         quad q, group g, row r, byte i = W[4q + r][4g + i]  (pqk_mcu.codegen.weights.encode_row_quads)
 * output  [batches][output_features]                int8 in [activation_min, activation_max]
 * scratch pqk_fully_connected_s8_dsp_buffer_size() bytes, 4-byte aligned: one input row widened to int16
 *         (none, and scratch may be NULL, where the layer reads its input directly)
 * acc = folded bias + sum(w * x); requantized per output feature (or once per layer, per_channel 0).
 * Same bytes as pqk_fully_connected_s8.
 *
 * Each input row is widened once into scratch, per column group the pairs (x0, x2) and (x1, x3) that
 * SXTB16 and SXTB16 ROR 8 make of a weight word. Per group of one quad: one LDRD of the pairs, one LDM
 * of the four weight words, eight SXTB16 and eight SMLAD: 16 MACs in 18 instructions (plus the loop
 * test every second group), in assembly on cores with the DSP extension (quad_sums). Requantization
 * takes pqk_dsp.h's fast form; under PQK_FAST_CHECKED (requant.checked) every output whose channel or
 * accumulator is outside its bounds takes the exact form instead.
 */
#include "pqk_dsp.h"

/* A direct layer reads its input bytes directly (two SXTB16 per group and quad) and needs no scratch:
 * one of at most DIRECT_OUTPUTS outputs, where widening the row would cost more than it saves, or of
 * at most DIRECT_WHOLE_OUTPUTS over whole column groups, where it costs about as much. Only the last,
 * partial group of a direct layer is widened, on the stack. */
#define DIRECT_OUTPUTS 8
#define DIRECT_WHOLE_OUTPUTS 16

static int is_direct(const pqk_fully_connected_s8_params_t *params)
{
    return params->output_features <= DIRECT_OUTPUTS ||
           (params->output_features <= DIRECT_WHOLE_OUTPUTS && params->input_features % 4 == 0);
}

/* Bytes of one widened input row: two words per column group (none for a direct layer). */
int32_t pqk_fully_connected_s8_dsp_buffer_size(const pqk_fully_connected_s8_params_t *params)
{
    return is_direct(params) ? 0 : 8 * ((params->input_features + 3) / 4);
}

/* x[0 .. features) (direct: only the last, partial group) -> pairs: words 2g = (x[4g], x[4g + 2]), 2g + 1 = (x[4g + 1], x[4g + 3]) as int16
 * halves; the last group's missing columns are 0 (their weights are 0 too). */
static void widen_row(const int8_t *x, int32_t features, int direct, uint32_t *pairs)
{
    const int8_t *const full_end = x + (features & ~3);
    if (direct) {
        x = full_end;
    }
    uint32_t last = 0;
    int32_t i;
    while (x != full_end) {
        const uint32_t word = pqk_load_s8x4(x);
        pairs[0] = pqk_sxtb16(word);
        pairs[1] = pqk_sxtb16_ror8(word);
        pairs += 2;
        x += 4;
    }
    if (features & 3) {
        for (i = 0; i < (features & 3); ++i) {
            last |= (uint32_t)(uint8_t)x[i] << (8 * i);
        }
        pairs[0] = pqk_sxtb16(last);
        pairs[1] = pqk_sxtb16_ror8(last);
    }
}

#if PQK_HAVE_DSP
/* sums[0..3] += the quad at w times the input, one column group per pass: quad_sums() reads the
 * widened row pairs[0 .. end) (LDRD), quad_sums_bytes() the int8 row x[0 .. end) (LDR, two SXTB16;
 * end - x a nonzero multiple of 4); both return the next quad.
 * Registers: r0 input, r1 end, r2 weights, r3 the SXTB16 result (the sums pointer saved on the
 * stack: [sp], the lowest register of the push), r4-r7 the four sums, r8/r9 a group's (x0, x2)/(x1, x3),
 * r10-r12 and lr the quad's four weight words. Two groups per loop pass; an odd group count enters at
 * the second. Thumb-2 with DSP: cortex-m4, m7, m33, m55. */
#define PQK_ROW(weight, acc)                                                                             \
        "sxtb16 r3, " weight "\n\t"                                                                     \
        "smlad  " acc ", r3, r8, " acc "\n\t"                                                           \
        "sxtb16 " weight ", " weight ", ror #8\n\t"                                                     \
        "smlad  " acc ", " weight ", r9, " acc "\n\t"
#define PQK_QUAD_SUMS(load_group, group_bytes)                                                           \
    __asm__ volatile(                                                                                    \
        "push   {r3-r11, lr}\n\t"                                                                      \
        "ldm    r3, {r4-r7}\n\t"                                                                        \
        "sub    r3, r1, r0\n\t"                                                                         \
        "tst    r3, #" group_bytes "\n\t"                                                               \
        "bne    2f\n\t"                                                                                 \
        "1:\n\t"                                                                                        \
        load_group                                                                                       \
        "ldm    r2!, {r10, r11, r12, lr}\n\t"                                                           \
        PQK_ROW("r10", "r4") PQK_ROW("r11", "r5") PQK_ROW("r12", "r6") PQK_ROW("lr", "r7")               \
        "2:\n\t"                                                                                        \
        load_group                                                                                       \
        "ldm    r2!, {r10, r11, r12, lr}\n\t"                                                           \
        PQK_ROW("r10", "r4") PQK_ROW("r11", "r5") PQK_ROW("r12", "r6") PQK_ROW("lr", "r7")               \
        "cmp    r0, r1\n\t"                                                                             \
        "bne    1b\n\t"                                                                                 \
        "ldr    r3, [sp]\n\t"                                                                           \
        "stm    r3, {r4-r7}\n\t"                                                                        \
        "mov    r0, r2\n\t"                                                                             \
        "pop    {r3-r11, pc}\n\t")
static __attribute__((naked, noinline)) const int8_t *quad_sums(const uint32_t *pairs __attribute__((unused)),
                                                               const uint32_t *end __attribute__((unused)),
                                                               const int8_t *w __attribute__((unused)),
                                                               int32_t *sums __attribute__((unused)))
{
    PQK_QUAD_SUMS("ldrd   r8, r9, [r0], #8\n\t", "8");
}
static __attribute__((naked, noinline)) const int8_t *quad_sums_bytes(const int8_t *x __attribute__((unused)),
                                                                     const int8_t *end __attribute__((unused)),
                                                                     const int8_t *w __attribute__((unused)),
                                                                     int32_t *sums __attribute__((unused)))
{
    PQK_QUAD_SUMS("ldr    r8, [r0], #4\n\t"
                  "sxtb16 r9, r8, ror #8\n\t"
                  "sxtb16 r8, r8\n\t", "4");
}
#undef PQK_QUAD_SUMS
#undef PQK_ROW
#else
static const int8_t *quad_group(uint32_t even, uint32_t odd, const int8_t *w, int32_t *sums)
{
    int32_t r;
    for (r = 0; r < 4; ++r) {
        const uint32_t word = pqk_load_s8x4(w + 4 * r);
        sums[r] = pqk_smlad(pqk_sxtb16_ror8(word), odd, pqk_smlad(pqk_sxtb16(word), even, sums[r]));
    }
    return w + 16;
}
static const int8_t *quad_sums(const uint32_t *pairs, const uint32_t *end, const int8_t *w, int32_t *sums)
{
    for (; pairs != end; pairs += 2) {
        w = quad_group(pairs[0], pairs[1], w, sums);
    }
    return w;
}
static const int8_t *quad_sums_bytes(const int8_t *x, const int8_t *end, const int8_t *w, int32_t *sums)
{
    for (; x != end; x += 4) {
        const uint32_t word = pqk_load_s8x4(x);
        w = quad_group(pqk_sxtb16(word), pqk_sxtb16_ror8(word), w, sums);
    }
    return w;
}
#endif

/* The quad's sums over one input row: widened (pairs .. pairs_end) or read directly. */
static inline __attribute__((always_inline)) const int8_t *sums_of_row(const int8_t *x, int32_t features,
                                                                      const uint32_t *pairs, const uint32_t *pairs_end,
                                                                      int direct, const int8_t *w, int32_t *sums)
{
    if (!direct) {
        return quad_sums(pairs, pairs_end, w, sums);
    }
    if (features >= 4) {
        w = quad_sums_bytes(x, x + (features & ~3), w, sums);
    }
    return (features & 3) ? quad_sums(pairs, pairs + 2, w, sums) : w;
}

/* One output: the layer's constants are locals (an int8 store may alias anything in memory). */
#define PQK_STORE(i)                                                                                         \
    {                                                                                                        \
        const pqk_fast_requant_t q = per_channel ? pqk_fast_requant_make(multipliers[o + (i)], shifts[o + (i)], \
                                                                         odd_zero_point, mode)               \
                                                 : layer_q;                                                  \
        out[i] = pqk_fast_clamp(pqk_fast_requantize(sums[i], &q, mode), mode, activation_min, activation_max); \
    }

static inline __attribute__((always_inline)) void run(const pqk_fully_connected_s8_params_t *params,
                                                      const int8_t *weights, const int8_t *input, int8_t *output,
                                                      uint32_t *row_pairs, int mode)
{
    const pqk_requant_s8_t *rq = &params->requant;
    const int32_t features = params->input_features, outputs = params->output_features;
    const int32_t batches = params->batches, per_channel = params->per_channel;
    const int32_t activation_min = rq->activation_min, activation_max = rq->activation_max;
    const int32_t *const bias = rq->bias, *const multipliers = rq->multiplier;
    const int8_t *const shifts = rq->shift;
    const uint32_t odd_zero_point = pqk_odd_zero_point(rq);
    const int32_t full_quads_end = outputs & ~3;
    const int direct = is_direct(params);
    uint32_t last_group[2]; /* a direct layer's last, partial group widened */
    uint32_t *const pairs = direct ? last_group : row_pairs;
    const uint32_t *const pairs_end = direct ? pairs + 2 : pairs + 2 * ((features + 3) / 4);
    const pqk_fast_requant_t layer_q = pqk_fast_requant_make(multipliers[0], shifts[0], odd_zero_point, mode);
    int32_t b, o, i;
    for (b = 0; b < batches; ++b) {
        const int8_t *w = weights;
        int8_t *out = output;
        int32_t sums[4];
        const int8_t *const x = input + b * features;
        widen_row(x, features, direct, pairs);
        for (o = 0; o < full_quads_end; o += 4) {
            memcpy(sums, bias + o, sizeof sums);
            w = sums_of_row(x, features, pairs, pairs_end, direct, w, sums);
            PQK_STORE(0)
            PQK_STORE(1)
            PQK_STORE(2)
            PQK_STORE(3)
            out += 4;
        }
        if (o < outputs) {
            for (i = 0; i < 4; ++i) {
                sums[i] = o + i < outputs ? bias[o + i] : 0;
            }
            sums_of_row(x, features, pairs, pairs_end, direct, w, sums);
            for (i = 0; i < outputs - o; ++i) {
                PQK_STORE(i)
            }
        }
        output += outputs;
    }
}
#undef PQK_STORE

void pqk_fully_connected_s8_dsp(const pqk_fully_connected_s8_params_t *params, const int8_t *weights,
                                const int8_t *input, int8_t *output, int8_t *scratch)
{
    /* the usual layers (ReLU onto int8 with zero point -128, no activation) get their own copies of the
     * output loop; the others take the general one, which tests the mode per output */
    uint32_t *const pairs = (uint32_t *)(void *)scratch;
    const int mode = pqk_fast_mode(&params->requant);
    if (mode == (PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED)) {
        run(params, weights, input, output, pairs, PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED);
    } else if (mode == PQK_FAST_FULL_RANGE) {
        run(params, weights, input, output, pairs, PQK_FAST_FULL_RANGE);
    } else {
        run(params, weights, input, output, pairs, mode);
    }
}
