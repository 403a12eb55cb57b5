/* pqk_fully_connected_s8_csr: int8 FULLY_CONNECTED with CSR weights.
 *
 * input   [batches][input_features]                int8
 * weights CSR [output_features][input_features]    int8 nonzeros, column = input feature
 * output  [batches][output_features]               int8 in [activation_min, activation_max]
 * Same result as pqk_fully_connected_s8 on the dense matrix.
 */
#include "pqk_requantize.h"
#include "pqk_runtime.h"

void pqk_fully_connected_s8_csr(const pqk_fully_connected_s8_params_t *params, const pqk_csr_s8_t *weights,
                                const int8_t *input, int8_t *output)
{
    const pqk_requant_s8_t *rq = &params->requant;
    int32_t b, o;
    for (b = 0; b < params->batches; ++b) {
        const int8_t *x = input + b * params->input_features;
        uint32_t k = 0; /* the rows follow one another: each starts where the last ended */
        for (o = 0; o < params->output_features; ++o) {
            const uint32_t end = pqk_csr_row_end(weights, o, k);
            int32_t acc = rq->bias[o];
            if (weights->col_u8 != NULL) {
                for (; k < end; ++k) {
                    acc += (int32_t)weights->values[k] * (int32_t)x[weights->col_u8[k]];
                }
            } else {
                for (; k < end; ++k) {
                    acc += (int32_t)weights->values[k] * (int32_t)x[weights->col_u16[k]];
                }
            }
            acc = pqk_requantize(acc, rq->multiplier[o * params->per_channel], rq->shift[o * params->per_channel]) + rq->output_zero_point;
            *output++ = pqk_clamp_s8(acc, rq->activation_min, rq->activation_max);
        }
    }
}
