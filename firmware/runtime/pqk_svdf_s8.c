/* pqk_svdf_s8: int8 SVDF with an int8 or int16 activation state (TFLite Micro's EvalIntegerSvdfReference).
 *
 * input [batches][input_size] int8, state [batches][filters * memory] (persists across invocations),
 * output [batches][filters / rank] int8. Sums wrap modulo 2^32 like the int32 arithmetic of the
 * reference (computed in uint32, so without signed overflow).
 */
#include "pqk_svdf.h"

void pqk_svdf_s8(const pqk_svdf_s8_params_t *params, const int8_t *input, void *state, int8_t *output)
{
    int32_t b, f, i;
    pqk_svdf_shift_state(params, state);
    for (b = 0; b < params->batches; ++b) {
        const int8_t *x = input + b * params->input_size;
        for (f = 0; f < params->filters; ++f) {
            const int8_t *row = params->weights_feature + f * params->input_size;
            uint32_t dot = 0;
            for (i = 0; i < params->input_size; ++i) {
                dot += (uint32_t)(row[i] * (x[i] - params->input_zero_point));
            }
            pqk_svdf_store_projection(params, state, b, f, dot);
        }
        pqk_svdf_outputs(params, state, b, output);
    }
}
