/* pqk_fully_connected_s8: int8 FULLY_CONNECTED with dense weights.
 *
 * input   [batches][input_features]                int8
 * weights [output_features][input_features]        int8, symmetric (zero point 0)
 * output  [batches][output_features]               int8 in [activation_min, activation_max]
 * acc = folded bias + sum(w * x); requantized per output feature.
 */
#include "pqk_requantize.h"
#include "pqk_runtime.h"

void pqk_fully_connected_s8(const pqk_fully_connected_s8_params_t *params, const int8_t *weights,
                            const int8_t *input, int8_t *output)
{
    const pqk_requant_s8_t *rq = &params->requant;
    int32_t b, o, i;
    for (b = 0; b < params->batches; ++b) {
        const int8_t *x = input + b * params->input_features;
        const int8_t *w = weights;
        for (o = 0; o < params->output_features; ++o) {
            int32_t acc = rq->bias[o];
            for (i = 0; i < params->input_features; ++i) {
                acc += (int32_t)w[i] * (int32_t)x[i];
            }
            w += params->input_features;
            acc = pqk_requantize(acc, rq->multiplier[o * params->per_channel], rq->shift[o * params->per_channel]) + rq->output_zero_point;
            *output++ = pqk_clamp_s8(acc, rq->activation_min, rq->activation_max);
        }
    }
}
