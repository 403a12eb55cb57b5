/* pqk_lstm.h: what the UNIDIRECTIONAL_SEQUENCE_LSTM kernels share (pqk_lstm_s8.c describes the
 * arithmetic): the portable dot product and the update of one unit from its gates' accumulators
 * (sigmoid and tanh from pqk_int16_activations.h). The kernels differ only in how they compute those
 * accumulators.
 */
#ifndef PQK_LSTM_H
#define PQK_LSTM_H

#include "pqk_int16_activations.h"
#include "pqk_requantize.h"
#include "pqk_runtime.h"

#define PQK_LSTM_GATES 4
#define PQK_LSTM_CELL_GATE 2 /* gate order: input, forget, cell, output */

static inline int32_t pqk_lstm_dot(const int8_t *weights, const int8_t *values, int32_t count, int32_t sum)
{
    int32_t i;
    for (i = 0; i < count; ++i) {
        sum += weights[i] * values[i];
    }
    return sum;
}

/* The input (or time-major) row of batch b at step t. */
static inline int32_t pqk_lstm_row(const pqk_lstm_s8_params_t *params, int32_t b, int32_t t)
{
    return params->time_major ? t * params->batches + b : b * params->steps + t;
}

/* Gate g of a unit from its two accumulators (input x input weights + input bias, old hidden x recurrent
 * weights + recurrent bias): Q0.15. */
static inline int16_t pqk_lstm_gate(const pqk_lstm_s8_params_t *params, int32_t g, int32_t from_input_sum,
                                    int32_t from_hidden_sum)
{
    const int32_t from_input = pqk_requantize(from_input_sum, params->input_multiplier[g], params->input_shift[g]);
    const int32_t from_hidden = pqk_requantize(from_hidden_sum, params->recurrent_multiplier[g],
                                               params->recurrent_shift[g]);
    const int32_t sum = pqk_clamp_s16(from_input, INT16_MIN, INT16_MAX)
                        + pqk_clamp_s16(from_hidden, INT16_MIN, INT16_MAX);
    const int16_t pre_activation = pqk_clamp_s16(sum, INT16_MIN, INT16_MAX);
    return g == PQK_LSTM_CELL_GATE ? pqk_table_tanh(params->sigmoid_table, pre_activation, 3, 0)
                                   : pqk_table_sigmoid(params->sigmoid_table, pre_activation, 3, 0);
}

/* A unit's cell state and new hidden state (written to output) from its four gates. */
static inline void pqk_lstm_update(const pqk_lstm_s8_params_t *params, const int16_t *gates, int16_t *cell,
                                   int8_t *output)
{
    const int32_t kept = pqk_requantize(gates[1] * *cell, params->forget_multiplier, params->forget_shift);
    const int32_t added = pqk_requantize(gates[0] * gates[PQK_LSTM_CELL_GATE], params->input_gate_multiplier,
                                         params->input_gate_shift);
    int32_t value = pqk_clamp_s16(pqk_clamp_s16(kept, INT16_MIN, INT16_MAX)
                                  + pqk_clamp_s16(added, INT16_MIN, INT16_MAX), INT16_MIN, INT16_MAX);
    if (params->cell_clip > 0) {
        value = value < -params->cell_clip ? -params->cell_clip
                                           : (value > params->cell_clip ? params->cell_clip : value);
    }
    *cell = (int16_t)value;
    {
        const int16_t activated = pqk_table_tanh(params->sigmoid_table, value, params->cell_tanh_multiplier,
                                                 params->cell_tanh_shift);
        const int32_t scaled = pqk_requantize(activated * gates[3], params->hidden_multiplier, params->hidden_shift);
        *output = pqk_clamp_s8(scaled + params->hidden_zero_point, INT8_MIN, INT8_MAX);
    }
}

/* A unit's update from its eight accumulators (``pqk_lstm_gate``), gate by gate. */
static inline void pqk_lstm_unit(const pqk_lstm_s8_params_t *params, const int32_t *from_input_sums,
                                 const int32_t *from_hidden_sums, int16_t *cell, int8_t *output)
{
    int16_t gates[PQK_LSTM_GATES];
    int32_t g;
    for (g = 0; g < PQK_LSTM_GATES; ++g) {
        gates[g] = pqk_lstm_gate(params, g, from_input_sums[g], from_hidden_sums[g]);
    }
    pqk_lstm_update(params, gates, cell, output);
}

/* The step's new hidden state (in the output row) becomes the state once every unit has read the old one. */
static inline void pqk_lstm_keep_hidden(int32_t units, const int8_t *output, int8_t *hidden)
{
    int32_t u;
    for (u = 0; u < units; ++u) {
        hidden[u] = output[u];
    }
}

#endif /* PQK_LSTM_H */
