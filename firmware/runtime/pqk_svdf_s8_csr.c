/* pqk_svdf_s8_csr: pqk_svdf_s8 with the feature weights in CSR (the params' weights_feature NULL), the
 * same bytes; the feature products skip the zeros, which add nothing even to the wrapping sums.
 */
#include "pqk_svdf.h"

void pqk_svdf_s8_csr(const pqk_svdf_s8_params_t *params, const pqk_csr_s8_t *weights_feature, const int8_t *input,
                     void *state, int8_t *output)
{
    int32_t b, f;
    pqk_svdf_shift_state(params, state);
    for (b = 0; b < params->batches; ++b) {
        const int8_t *x = input + b * params->input_size;
        uint32_t k = 0; /* the rows follow one another */
        for (f = 0; f < params->filters; ++f) {
            const uint32_t end = pqk_csr_row_end(weights_feature, f, k);
            uint32_t dot = 0;
            if (weights_feature->col_u8 != NULL) {
                for (; k < end; ++k) {
                    dot += (uint32_t)(weights_feature->values[k]
                                      * (x[weights_feature->col_u8[k]] - params->input_zero_point));
                }
            } else {
                for (; k < end; ++k) {
                    dot += (uint32_t)(weights_feature->values[k]
                                      * (x[weights_feature->col_u16[k]] - params->input_zero_point));
                }
            }
            pqk_svdf_store_projection(params, state, b, f, dot);
        }
        pqk_svdf_outputs(params, state, b, output);
    }
}
