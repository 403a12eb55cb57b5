/* pqk_lstm_s8: int8 UNIDIRECTIONAL_SEQUENCE_LSTM with an int16 cell state (TFLite Micro's integer
 * kernel, lstm_eval_common.cc).
 *
 * input [batches][steps][input_size] int8 (time_major: [steps][batches][input_size]); hidden_state
 * [batches][units] int8 and cell_state [batches][units] int16 persist across invocations (cell scale
 * 2^power, zero point 0); output [batches][steps][units] int8 (time_major: [steps][batches][units]),
 * each step's new hidden state.
 *
 * Per step, per unit: each gate's pre-activation is the saturated int16 sum of two fully connected
 * products requantized to Q3.12 (input x input weights + bias, old hidden x recurrent weights, the zero
 * points folded into the biases), each saturated to int16; the gates are sigmoid (the cell gate tanh)
 * in Q0.15 by TFLite's int16 table interpolation. cell = sat16(forget x cell) + sat16(input x cell gate),
 * saturated, then clipped; hidden = sat8(tanh(cell) x output gate requantized + hidden zero point).
 * Every operation is element-wise except the recurrent product, which reads the old hidden state: the
 * new one goes to the output row first and becomes the state when the step's units are done.
 * Sums fit int32: |sum| <= (input_size + units) x 127 x 255 + |bias|.
 */
#include "pqk_lstm.h"

/* One time step of one batch (or of every batch at once, time major: one row each). */
static void pqk_lstm_step(const pqk_lstm_s8_params_t *params, const int8_t *input, int8_t *hidden,
                          int16_t *cell, int8_t *output)
{
    const int32_t units = params->units;
    int32_t u, g;
    for (u = 0; u < units; ++u) {
        int16_t gates[PQK_LSTM_GATES];
        for (g = 0; g < PQK_LSTM_GATES; ++g) {
            const int32_t row = g * units + u;
            gates[g] = pqk_lstm_gate(
                params, g,
                pqk_lstm_dot(params->input_weights + row * params->input_size, input, params->input_size,
                             params->input_bias[row]),
                pqk_lstm_dot(params->recurrent_weights + row * units, hidden, units, params->recurrent_bias[row]));
        }
        pqk_lstm_update(params, gates, cell + u, output + u);
    }
    pqk_lstm_keep_hidden(units, output, hidden);
}

void pqk_lstm_s8(const pqk_lstm_s8_params_t *params, const int8_t *input, int8_t *hidden_state,
                 int16_t *cell_state, int8_t *output)
{
    const int32_t units = params->units;
    int32_t b, t;
    for (b = 0; b < params->batches; ++b) {
        for (t = 0; t < params->steps; ++t) {
            const int32_t row = pqk_lstm_row(params, b, t);
            pqk_lstm_step(params, input + row * params->input_size, hidden_state + b * units,
                          cell_state + b * units, output + row * units);
        }
    }
}
