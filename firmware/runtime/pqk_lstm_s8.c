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
#include "pqk_int16_activations.h"
#include "pqk_requantize.h"
#include "pqk_runtime.h"

#define PQK_LSTM_GATES 4
#define PQK_LSTM_CELL_GATE 2 /* gate order: input, forget, cell, output */

static int32_t pqk_lstm_dot(const int8_t *weights, const int8_t *values, int32_t count, int32_t sum)
{
    int32_t i;
    for (i = 0; i < count; ++i) {
        sum += weights[i] * values[i];
    }
    return sum;
}

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
            const int32_t from_input = pqk_requantize(
                pqk_lstm_dot(params->input_weights + row * params->input_size, input, params->input_size,
                             params->input_bias[row]),
                params->input_multiplier[g], params->input_shift[g]);
            const int32_t from_hidden = pqk_requantize(
                pqk_lstm_dot(params->recurrent_weights + row * units, hidden, units, params->recurrent_bias[row]),
                params->recurrent_multiplier[g], params->recurrent_shift[g]);
            const int32_t sum = pqk_clamp_s16(from_input, INT16_MIN, INT16_MAX)
                                + pqk_clamp_s16(from_hidden, INT16_MIN, INT16_MAX);
            const int16_t pre_activation = pqk_clamp_s16(sum, INT16_MIN, INT16_MAX);
            gates[g] = g == PQK_LSTM_CELL_GATE ? pqk_table_tanh(params->sigmoid_table, pre_activation, 3, 0)
                                               : pqk_table_sigmoid(params->sigmoid_table, pre_activation, 3, 0);
        }
        {
            const int32_t kept = pqk_requantize(gates[1] * cell[u], params->forget_multiplier, params->forget_shift);
            const int32_t added = pqk_requantize(gates[0] * gates[PQK_LSTM_CELL_GATE], params->input_gate_multiplier,
                                                 params->input_gate_shift);
            int32_t value = pqk_clamp_s16(pqk_clamp_s16(kept, INT16_MIN, INT16_MAX)
                                          + pqk_clamp_s16(added, INT16_MIN, INT16_MAX), INT16_MIN, INT16_MAX);
            if (params->cell_clip > 0) {
                value = value < -params->cell_clip ? -params->cell_clip
                                                   : (value > params->cell_clip ? params->cell_clip : value);
            }
            cell[u] = (int16_t)value;
            {
                const int16_t activated = pqk_table_tanh(params->sigmoid_table, value, params->cell_tanh_multiplier,
                                                         params->cell_tanh_shift);
                const int32_t scaled = pqk_requantize(activated * gates[3], params->hidden_multiplier,
                                                      params->hidden_shift);
                output[u] = pqk_clamp_s8(scaled + params->hidden_zero_point, INT8_MIN, INT8_MAX);
            }
        }
    }
    for (u = 0; u < units; ++u) {
        hidden[u] = output[u];
    }
}

void pqk_lstm_s8(const pqk_lstm_s8_params_t *params, const int8_t *input, int8_t *hidden_state,
                 int16_t *cell_state, int8_t *output)
{
    const int32_t units = params->units;
    int32_t b, t;
    for (b = 0; b < params->batches; ++b) {
        for (t = 0; t < params->steps; ++t) {
            const int32_t row = params->time_major ? t * params->batches + b : b * params->steps + t;
            pqk_lstm_step(params, input + row * params->input_size, hidden_state + b * units,
                          cell_state + b * units, output + row * units);
        }
    }
}
