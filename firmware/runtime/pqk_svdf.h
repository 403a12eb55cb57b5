/* pqk_svdf.h: what the SVDF kernels share (pqk_svdf_s8.c describes the kernel); they differ only in how
 * they store the feature weights and compute the feature products. */
#ifndef PQK_SVDF_H
#define PQK_SVDF_H

#include <string.h>

#include "pqk_requantize.h"
#include "pqk_runtime.h"

static inline void pqk_svdf_state_set(const pqk_svdf_s8_params_t *params, void *values, int32_t index, int32_t value)
{
    /* The narrowing store wraps (two's complement), as TFLite Micro's does. */
    if (params->wide_state) {
        ((int16_t *)values)[index] = (int16_t)(uint16_t)(uint32_t)value;
    } else {
        ((int8_t *)values)[index] = (int8_t)(uint8_t)(uint32_t)value;
    }
}

/* Every filter's memory moves one step back in time (one left shift of the whole state by one value). */
static inline void pqk_svdf_shift_state(const pqk_svdf_s8_params_t *params, void *state)
{
    const int32_t total = params->batches * params->filters * params->memory;
    const size_t value_bytes = params->wide_state ? sizeof(int16_t) : sizeof(int8_t);
    if (total > 1) {
        memmove(state, (const uint8_t *)state + value_bytes, (size_t)(total - 1) * value_bytes);
    }
}

/* Filter f's feature product ``dot`` of batch b, requantized and saturated, into the filter's last slot. */
static inline void pqk_svdf_store_projection(const pqk_svdf_s8_params_t *params, void *state, int32_t b, int32_t f,
                                             uint32_t dot)
{
    const int32_t state_max = params->wide_state ? INT16_MAX : INT8_MAX;
    const int32_t state_min = params->wide_state ? INT16_MIN : INT8_MIN;
    const int32_t memory = params->memory;
    int32_t projection = pqk_requantize((int32_t)dot, params->feature_multiplier, params->feature_shift);
    projection = projection < state_min ? state_min : (projection > state_max ? state_max : projection);
    pqk_svdf_state_set(params, state, b * params->filters * memory + f * memory + memory - 1,
                       (int32_t)((uint32_t)projection + (uint32_t)params->state_zero_point));
}

/* Batch b's outputs: each unit sums its rank filters' memory (state_zero_point subtracted) x weights_time
 * onto its bias; the unit's filters are adjacent, so both operands are one run of rank x memory values. */
static void pqk_svdf_outputs(const pqk_svdf_s8_params_t *params, const void *state, int32_t b, int8_t *output)
{
    const int32_t span = params->rank * params->memory;
    const int32_t units = params->filters / params->rank;
    const int32_t origin = b * params->filters * params->memory;
    const int32_t zero_point = params->state_zero_point;
    int32_t i, u;
    for (u = 0; u < units; ++u) {
        uint32_t sum = (uint32_t)params->bias[u];
        if (params->wide_state) {
            const int16_t *weights = (const int16_t *)params->weights_time + u * span;
            const int16_t *values = (const int16_t *)state + origin + u * span;
            for (i = 0; i < span; ++i) {
                sum += (uint32_t)weights[i] * (uint32_t)(values[i] - zero_point);
            }
        } else {
            const int8_t *weights = (const int8_t *)params->weights_time + u * span;
            const int8_t *values = (const int8_t *)state + origin + u * span;
            for (i = 0; i < span; ++i) {
                sum += (uint32_t)weights[i] * (uint32_t)(values[i] - zero_point);
            }
        }
        output[b * units + u] = pqk_clamp_s8(pqk_requantize((int32_t)sum, params->time_multiplier, params->time_shift)
                                             + params->output_zero_point, INT8_MIN, INT8_MAX);
    }
}

#endif /* PQK_SVDF_H */
