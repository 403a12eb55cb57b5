/* pqk_svdf_s8: int8 SVDF with an int8 or int16 activation state (TFLite Micro's EvalIntegerSvdfReference).
 *
 * input [batches][input_size] int8, state [batches][filters * memory] (persists across invocations),
 * output [batches][filters / rank] int8. Sums wrap modulo 2^32 like the int32 arithmetic of the
 * reference (computed in uint32, so without signed overflow).
 */
#include "pqk_requantize.h"
#include "pqk_runtime.h"

static int32_t pqk_svdf_state_get(const pqk_svdf_s8_params_t *params, const void *values, int32_t index)
{
    return params->wide_state ? ((const int16_t *)values)[index] : ((const int8_t *)values)[index];
}

static void pqk_svdf_state_set(const pqk_svdf_s8_params_t *params, void *values, int32_t index, int32_t value)
{
    /* The narrowing store wraps (two's complement), as TFLite Micro's does. */
    if (params->wide_state) {
        ((int16_t *)values)[index] = (int16_t)(uint16_t)(uint32_t)value;
    } else {
        ((int8_t *)values)[index] = (int8_t)(uint8_t)(uint32_t)value;
    }
}

void pqk_svdf_s8(const pqk_svdf_s8_params_t *params, const int8_t *input, void *state, int8_t *output)
{
    const int32_t memory = params->memory;
    const int32_t per_batch = params->filters * memory;
    const int32_t total = params->batches * per_batch;
    const int32_t state_max = params->wide_state ? INT16_MAX : INT8_MAX;
    const int32_t state_min = params->wide_state ? INT16_MIN : INT8_MIN;
    const int32_t units = params->filters / params->rank;
    int32_t b, f, i, u;

    /* Every filter's memory moves one step back in time (one left shift of the whole state). */
    for (i = 0; i + 1 < total; ++i) {
        pqk_svdf_state_set(params, state, i, pqk_svdf_state_get(params, state, i + 1));
    }
    for (b = 0; b < params->batches; ++b) {
        const int8_t *x = input + b * params->input_size;
        for (f = 0; f < params->filters; ++f) {
            const int8_t *row = params->weights_feature + f * params->input_size;
            uint32_t dot = 0;
            for (i = 0; i < params->input_size; ++i) {
                dot += (uint32_t)(row[i] * (x[i] - params->input_zero_point));
            }
            int32_t projection = pqk_requantize((int32_t)dot, params->feature_multiplier, params->feature_shift);
            projection = projection < state_min ? state_min : (projection > state_max ? state_max : projection);
            pqk_svdf_state_set(params, state, b * per_batch + f * memory + memory - 1,
                               (int32_t)((uint32_t)projection + (uint32_t)params->state_zero_point));
        }
        for (u = 0; u < units; ++u) {
            uint32_t sum = (uint32_t)params->bias[u];
            for (f = u * params->rank; f < (u + 1) * params->rank; ++f) {
                for (i = 0; i < memory; ++i) {
                    const int32_t weight = pqk_svdf_state_get(params, params->weights_time, f * memory + i);
                    const int32_t value = pqk_svdf_state_get(params, state, b * per_batch + f * memory + i);
                    sum += (uint32_t)weight * (uint32_t)(value - params->state_zero_point);
                }
            }
            const int32_t scaled = pqk_requantize((int32_t)sum, params->time_multiplier, params->time_shift)
                                   + params->output_zero_point;
            output[b * units + u] = pqk_clamp_s8(scaled, INT8_MIN, INT8_MAX);
        }
    }
}
