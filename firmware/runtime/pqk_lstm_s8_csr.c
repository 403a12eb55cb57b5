/* pqk_lstm_s8_csr: pqk_lstm_s8 with either weight matrix (or both) in CSR, the same bytes; the products
 * skip the zeros. A CSR matrix holds its rows unit by unit ([units][4 gates], pqk_mcu/codegen/lower.py),
 * the order the kernel reads them in; a NULL one is dense, the params' matrix (gate by gate).
 */
#include "pqk_lstm.h"

/* Sum + the nonzeros of the rows from k up to ``end`` x their values; returns the sum, k moves to end. */
static int32_t pqk_lstm_csr_dot(const pqk_csr_s8_t *csr, uint32_t *k, uint32_t end, const int8_t *values, int32_t sum)
{
    uint32_t i = *k;
    if (csr->col_u8 != NULL) {
        for (; i < end; ++i) {
            sum += csr->values[i] * values[csr->col_u8[i]];
        }
    } else {
        for (; i < end; ++i) {
            sum += csr->values[i] * values[csr->col_u16[i]];
        }
    }
    *k = end;
    return sum;
}

/* The four gates' sums of unit u over one matrix [4][units][count]: from ``csr`` (at nonzero *k) or
 * the dense ``weights``. */
static void pqk_lstm_gate_sums(const pqk_csr_s8_t *csr, uint32_t *k, const int8_t *weights, const int32_t *bias,
                               int32_t units, int32_t u, const int8_t *values, int32_t count, int32_t *sums)
{
    int32_t g;
    for (g = 0; g < PQK_LSTM_GATES; ++g) {
        const int32_t row = g * units + u;
        if (csr != NULL) {
            sums[g] = pqk_lstm_csr_dot(csr, k, pqk_csr_row_end(csr, u * PQK_LSTM_GATES + g, *k), values, bias[row]);
        } else {
            sums[g] = pqk_lstm_dot(weights + row * count, values, count, bias[row]);
        }
    }
}

void pqk_lstm_s8_csr(const pqk_lstm_s8_params_t *params, const pqk_csr_s8_t *input_weights,
                     const pqk_csr_s8_t *recurrent_weights, const int8_t *input, int8_t *hidden_state,
                     int16_t *cell_state, int8_t *output)
{
    const int32_t units = params->units;
    int32_t b, t, u;
    for (b = 0; b < params->batches; ++b) {
        for (t = 0; t < params->steps; ++t) {
            const int32_t row = pqk_lstm_row(params, b, t);
            const int8_t *x = input + row * params->input_size;
            int8_t *hidden = hidden_state + b * units, *out = output + row * units;
            uint32_t input_k = 0, recurrent_k = 0; /* each step reads every row once, in order */
            for (u = 0; u < units; ++u) {
                int32_t from_input[PQK_LSTM_GATES], from_hidden[PQK_LSTM_GATES];
                pqk_lstm_gate_sums(input_weights, &input_k, params->input_weights, params->input_bias, units, u, x,
                                   params->input_size, from_input);
                pqk_lstm_gate_sums(recurrent_weights, &recurrent_k, params->recurrent_weights, params->recurrent_bias,
                                   units, u, hidden, units, from_hidden);
                pqk_lstm_unit(params, from_input, from_hidden, cell_state + b * units + u, out + u);
            }
            pqk_lstm_keep_hidden(units, out, hidden);
        }
    }
}
