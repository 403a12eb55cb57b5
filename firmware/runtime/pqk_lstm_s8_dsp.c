/* pqk_lstm_s8_dsp: pqk_lstm_s8 for cores with the DSP extension, the same bytes; the gate products by
 * SMLAD. Each weight matrix comes in row quads (pqk_mcu/codegen/weights.py encode_row_quads) of its rows
 * taken unit by unit ([units][4 gates][columns], columns zero-padded to a multiple of 4): one pointer reads
 * a unit's four gates' words side by side, and each word of four inputs is sign-extended to two int16
 * pairs once for the four gates. The biases stay gate by gate ([4][units]).
 */
#include "pqk_dsp.h"
#include "pqk_lstm.h"

/* sum += the next word of weights (four int8) x the values' int16 pairs even (bytes 0, 2), odd (1, 3). */
#define PQK_LSTM_WORD(sum, weights, even, odd)                                   \
    do {                                                                         \
        const uint32_t pqk_word = pqk_load_s8x4(weights);                        \
        sum = pqk_smlad(pqk_sxtb16_ror8(pqk_word), odd,                          \
                        pqk_smlad(pqk_sxtb16(pqk_word), even, sum));             \
    } while (0)

/* The four gates' sums of one unit += weights x values; ``weights`` points at the unit's row quad. The
 * sums stay in registers (a store per word would follow every load: int8 weights may alias them). */
static void pqk_lstm_dot_quads(const int8_t *weights, const int8_t *values, int32_t count, int32_t *sums)
{
    int32_t sum0 = sums[0], sum1 = sums[1], sum2 = sums[2], sum3 = sums[3];
    uint32_t word = 0, even, odd;
    int32_t i, k;
    for (i = 0; i + 4 <= count; i += 4) {
        word = pqk_load_s8x4(values + i);
        even = pqk_sxtb16(word);
        odd = pqk_sxtb16_ror8(word);
        PQK_LSTM_WORD(sum0, weights, even, odd);
        PQK_LSTM_WORD(sum1, weights + 4, even, odd);
        PQK_LSTM_WORD(sum2, weights + 8, even, odd);
        PQK_LSTM_WORD(sum3, weights + 12, even, odd);
        weights += 4 * PQK_LSTM_GATES;
    }
    if (i < count) { /* the last values, zero-padded as the weights are: no read past the row */
        word = 0;
        for (k = 0; i + k < count; ++k) {
            word |= (uint32_t)(uint8_t)values[i + k] << (8 * k);
        }
        even = pqk_sxtb16(word);
        odd = pqk_sxtb16_ror8(word);
        PQK_LSTM_WORD(sum0, weights, even, odd);
        PQK_LSTM_WORD(sum1, weights + 4, even, odd);
        PQK_LSTM_WORD(sum2, weights + 8, even, odd);
        PQK_LSTM_WORD(sum3, weights + 12, even, odd);
    }
    sums[0] = sum0;
    sums[1] = sum1;
    sums[2] = sum2;
    sums[3] = sum3;
}

static void pqk_lstm_step_dsp(const pqk_lstm_s8_params_t *params, const int8_t *input, int8_t *hidden,
                              int16_t *cell, int8_t *output)
{
    const int32_t units = params->units;
    const int32_t input_quad = PQK_LSTM_GATES * ((params->input_size + 3) & ~3);
    const int32_t recurrent_quad = PQK_LSTM_GATES * ((units + 3) & ~3);
    int32_t u, g;
    for (u = 0; u < units; ++u) {
        int32_t from_input[PQK_LSTM_GATES], from_hidden[PQK_LSTM_GATES];
        for (g = 0; g < PQK_LSTM_GATES; ++g) {
            from_input[g] = params->input_bias[g * units + u];
            from_hidden[g] = params->recurrent_bias[g * units + u];
        }
        pqk_lstm_dot_quads(params->input_weights + u * input_quad, input, params->input_size, from_input);
        pqk_lstm_dot_quads(params->recurrent_weights + u * recurrent_quad, hidden, units, from_hidden);
        pqk_lstm_unit(params, from_input, from_hidden, cell + u, output + u);
    }
    pqk_lstm_keep_hidden(units, output, hidden);
}

void pqk_lstm_s8_dsp(const pqk_lstm_s8_params_t *params, const int8_t *input, int8_t *hidden_state,
                     int16_t *cell_state, int8_t *output)
{
    const int32_t units = params->units;
    int32_t b, t;
    for (b = 0; b < params->batches; ++b) {
        for (t = 0; t < params->steps; ++t) {
            const int32_t row = pqk_lstm_row(params, b, t);
            pqk_lstm_step_dsp(params, input + row * params->input_size, hidden_state + b * units,
                              cell_state + b * units, output + row * units);
        }
    }
}
