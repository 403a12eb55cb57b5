/* pqk_fully_connected_s8_dsp: int8 FULLY_CONNECTED, dense weights in row quads, DSP extension (SMLAD).
 *
 * input   [batches][input_features]                 int8
 * weights row quads: output features in groups of four (the last group zero-padded), each stored as
 *         column groups of four (the last zero-padded), each group as the four rows' 4-byte words:
 *         quad q, group g, row r, byte i = W[4q + r][4g + i]  (pqk_mcu.codegen.weights.encode_row_quads)
 * output  [batches][output_features]                int8 in [activation_min, activation_max]
 * acc = folded bias + sum(w * x); requantized per output feature (or once per layer, per_channel 0).
 * Same bytes as pqk_fully_connected_s8.
 *
 * Per four columns of one quad: one input word widened by SXTB16 to (x0, x2), (x1, x3), the quad's
 * four weight words by two LDRD and eight SXTB16, eight SMLAD: 16 MACs in about 21 instructions,
 * no scratch. Requantization takes pqk_dsp.h's fast form; under PQK_FAST_CHECKED (requant.checked)
 * every output whose channel or accumulator is outside its bounds takes the exact form instead.
 */
#include "pqk_dsp.h"

/* The input's last, partial word (the bytes inside the row, zero above). */
static inline uint32_t partial_word(const int8_t *x, int32_t bytes)
{
    uint32_t word = 0;
    int32_t i;
    for (i = 0; i < bytes; ++i) {
        word |= (uint32_t)(uint8_t)x[i] << (8 * i);
    }
    return word;
}

/* The quad's four sums += one column group: input word ``word``, the four weight words at w. */
#define PQK_QUAD_GROUP(word, w)                                                                             \
    {                                                                                                       \
        const uint32_t even = pqk_sxtb16(word), odd = pqk_sxtb16_ror8(word);                               \
        uint32_t w0, w1, w2, w3;                                                                            \
        PQK_LOAD_PAIR(w, 0, w0, w1);                                                                        \
        PQK_LOAD_PAIR(w, 8, w2, w3);                                                                        \
        acc0 = pqk_smlad(pqk_sxtb16_ror8(w0), odd, pqk_smlad(pqk_sxtb16(w0), even, acc0));                 \
        acc1 = pqk_smlad(pqk_sxtb16_ror8(w1), odd, pqk_smlad(pqk_sxtb16(w1), even, acc1));                 \
        acc2 = pqk_smlad(pqk_sxtb16_ror8(w2), odd, pqk_smlad(pqk_sxtb16(w2), even, acc2));                 \
        acc3 = pqk_smlad(pqk_sxtb16_ror8(w3), odd, pqk_smlad(pqk_sxtb16(w3), even, acc3));                 \
    }

/* Outputs o .. o + count - 1 (count <= 4) of one input row; returns the
 * next quad's weights. Sums are locals, not an array: an array would go through the stack. */
static const int8_t *quad(const pqk_fully_connected_s8_params_t *params, const int8_t *w, const int8_t *x, int32_t o,
                          int32_t count, int8_t *out, int mode)
{
    const pqk_requant_s8_t *rq = &params->requant;
    const int32_t features = params->input_features, per_channel = params->per_channel;
    const int32_t activation_min = rq->activation_min, activation_max = rq->activation_max;
    const uint32_t odd_zero_point = pqk_odd_zero_point(rq);
    const int8_t *const x_pairs_end = x + (features & ~7);
    int32_t acc0 = rq->bias[o];
    int32_t acc1 = count > 1 ? rq->bias[o + 1] : 0;
    int32_t acc2 = count > 2 ? rq->bias[o + 2] : 0;
    int32_t acc3 = count > 3 ? rq->bias[o + 3] : 0;
    while (x != x_pairs_end) {
        const uint32_t low = pqk_load_s8x4(x), high = pqk_load_s8x4(x + 4);
        PQK_QUAD_GROUP(low, w)
        PQK_QUAD_GROUP(high, w + 16)
        x += 8;
        w += 32;
    }
    if (features & 4) {
        const uint32_t word = pqk_load_s8x4(x);
        PQK_QUAD_GROUP(word, w)
        x += 4;
        w += 16;
    }
    if (features & 3) {
        const uint32_t word = partial_word(x, features & 3);
        PQK_QUAD_GROUP(word, w)
        w += 16;
    }
#define PQK_STORE(i, acc)                                                                                   \
    {                                                                                                       \
        const int32_t channel = (o + (i)) * per_channel;                                                    \
        const pqk_fast_requant_t q = pqk_fast_requant_make(rq->multiplier[channel], rq->shift[channel],     \
                                                           odd_zero_point, mode);                           \
        out[i] = pqk_fast_clamp(pqk_fast_requantize(acc, &q, mode), mode, activation_min, activation_max); \
    }
    PQK_STORE(0, acc0)
    if (count > 1) {
        PQK_STORE(1, acc1)
    }
    if (count > 2) {
        PQK_STORE(2, acc2)
    }
    if (count > 3) {
        PQK_STORE(3, acc3)
    }
#undef PQK_STORE
    return w;
}

void pqk_fully_connected_s8_dsp(const pqk_fully_connected_s8_params_t *params, const int8_t *weights,
                                const int8_t *input, int8_t *output)
{
    /* One instantiation for every mode and quad: the multiply-accumulate loop dominates, and the
     * requantization's tests cost a few instructions per output. */
    const int mode = pqk_fast_mode(&params->requant);
    const int32_t features = params->input_features, outputs = params->output_features;
    int32_t b, o;
    for (b = 0; b < params->batches; ++b) {
        const int8_t *x = input + b * features;
        const int8_t *w = weights;
        int8_t *out = output + b * outputs;
        for (o = 0; o < outputs; o += 4) {
            w = quad(params, w, x, o, outputs - o < 4 ? outputs - o : 4, out + o, mode);
        }
    }
}
