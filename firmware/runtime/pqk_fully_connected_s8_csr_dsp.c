/* pqk_fully_connected_s8_csr_dsp: int8 FULLY_CONNECTED with CSR weights, DSP extension (SMLAD).
 *
 * input   [batches][input_features]                int8
 * weights CSR [output_features][input_features]    int8 nonzeros, column = input feature (pqk_csr_s8_t:
 *         8- or 16-bit columns, row lengths or row pointers)
 * output  [batches][output_features]               int8 in [activation_min, activation_max]
 * acc = folded bias + sum(w * x); requantized per output feature (or once per layer, per_channel 0).
 * Same bytes as pqk_fully_connected_s8_csr.
 *
 * Four nonzeros of a row at a time: one unaligned LDR of their weights, widened by SXTB16 to (w0, w2)
 * and (w1, w3); their inputs (LDRSB at the four columns) paired the same way by PKHBT; two SMLAD.
 * A row's last 0-3 nonzeros take one MLA each. Requantization takes pqk_dsp.h's fast form; under
 * PQK_FAST_CHECKED (requant.checked) every output whose channel or accumulator is outside its bounds
 * takes the exact form instead. No scratch: the input zero point is folded into the bias.
 */
#include "pqk_dsp.h"

#if PQK_HAVE_DSP
static inline uint32_t pack_halves(int32_t low, int32_t high)
{
    return pqk_pack_low_halves((uint32_t)low, (uint32_t)high);
}
#else
static inline uint32_t pack_halves(int32_t low, int32_t high)
{
    return ((uint32_t)low & 0xFFFFu) | ((uint32_t)high << 16);
}
#endif

/* The outputs out[0 .. outputs) of one input row x, over the nonzeros with columns of column_t. */
#define PQK_ROWS(column_t, column_field)                                                                    \
    static inline __attribute__((always_inline)) void rows_##column_t(                            \
        const pqk_fully_connected_s8_params_t *params, const pqk_csr_s8_t *weights, const int8_t *x,       \
        int8_t *out, int mode)                                                                              \
    {                                                                                                       \
        const pqk_requant_s8_t *rq = &params->requant;                                                      \
        const int32_t outputs = params->output_features, per_channel = params->per_channel;                 \
        const int32_t activation_min = rq->activation_min, activation_max = rq->activation_max;             \
        const int32_t *const bias = rq->bias, *const multipliers = rq->multiplier;                          \
        const int8_t *const shifts = rq->shift;                                                             \
        const uint32_t odd_zero_point = pqk_odd_zero_point(rq);                                             \
        const pqk_fast_requant_t layer_q = pqk_fast_requant_make(multipliers[0], shifts[0], odd_zero_point, mode); \
        const pqk_csr_s8_t csr = *weights; /* a local: an int8 store may alias anything in memory */        \
        const int8_t *values = csr.values;                                                                  \
        const column_t *columns = csr.column_field;                                                         \
        uint32_t k = 0; /* the rows follow one another: each starts where the last ended */                 \
        int32_t o;                                                                                          \
        for (o = 0; o < outputs; ++o) {                                                                     \
            const uint32_t end = pqk_csr_row_end(&csr, o, k);                                               \
            const uint32_t count = end - k;                                                                 \
            const column_t *const quads_end = columns + (count & ~3u);                                      \
            int32_t acc = bias[o];                                                                          \
            pqk_fast_requant_t q = layer_q;                                                                 \
            while (columns != quads_end) {                                                                  \
                const uint32_t w = pqk_load_s8x4(values);                                                   \
                const uint32_t even = pack_halves(x[columns[0]], x[columns[2]]);                            \
                const uint32_t odd = pack_halves(x[columns[1]], x[columns[3]]);                             \
                acc = pqk_smlad(pqk_sxtb16_ror8(w), odd, pqk_smlad(pqk_sxtb16(w), even, acc));              \
                columns += 4;                                                                               \
                values += 4;                                                                                \
            }                                                                                               \
            if (count & 2) {                                                                                \
                acc += (int32_t)values[0] * (int32_t)x[columns[0]] + (int32_t)values[1] * (int32_t)x[columns[1]]; \
                columns += 2;                                                                               \
                values += 2;                                                                                \
            }                                                                                               \
            if (count & 1) {                                                                                \
                acc += (int32_t)*values++ * (int32_t)x[*columns++];                                         \
            }                                                                                               \
            if (per_channel) {                                                                              \
                q = pqk_fast_requant_make(multipliers[o], shifts[o], odd_zero_point, mode);                 \
            }                                                                                               \
            out[o] = pqk_fast_clamp(pqk_fast_requantize(acc, &q, mode), mode, activation_min, activation_max); \
            k = end;                                                                                        \
        }                                                                                                   \
    }
PQK_ROWS(uint8_t, col_u8)
PQK_ROWS(uint16_t, col_u16)
#undef PQK_ROWS

static inline __attribute__((always_inline)) void run(const pqk_fully_connected_s8_params_t *params,
                                                      const pqk_csr_s8_t *weights, const int8_t *input,
                                                      int8_t *output, int mode)
{
    const int32_t features = params->input_features, outputs = params->output_features;
    int32_t b;
    for (b = 0; b < params->batches; ++b) {
        if (weights->col_u8 != NULL) {
            rows_uint8_t(params, weights, input + b * features, output + b * outputs, mode);
        } else {
            rows_uint16_t(params, weights, input + b * features, output + b * outputs, mode);
        }
    }
}

void pqk_fully_connected_s8_csr_dsp(const pqk_fully_connected_s8_params_t *params, const pqk_csr_s8_t *weights,
                                    const int8_t *input, int8_t *output)
{
    /* the usual layers (ReLU onto int8 with zero point -128, no activation) get their own copies of the
     * row loop; the others take the general one, which tests the mode per output */
    const int mode = pqk_fast_mode(&params->requant);
    if (mode == (PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED)) {
        run(params, weights, input, output, PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED);
    } else if (mode == PQK_FAST_FULL_RANGE) {
        run(params, weights, input, output, PQK_FAST_FULL_RANGE);
    } else {
        run(params, weights, input, output, mode);
    }
}
