/* pqk_lut_s8: element-wise int8 -> int8 function by table lookup.
 *
 * input, output [size] int8; output[i] = table[input[i] + 128]. The 256-entry table is the
 * reference interpreter's output for every int8 input (LOGISTIC, TANH, RELU, RELU6, QUANTIZE).
 * input and output may be the same buffer.
 */
#include "pqk_runtime.h"

void pqk_lut_s8(const pqk_lut_s8_params_t *params, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < params->size; ++i) {
        output[i] = params->table[input[i] + 128];
    }
}
