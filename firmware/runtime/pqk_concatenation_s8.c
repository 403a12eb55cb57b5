/* pqk_concatenation_s8: CONCATENATION of int8 tensors sharing scale and zero point.
 *
 * inputs[i] viewed as [outer][copy_sizes[i]]; output [outer][sum of copy_sizes].
 */
#include <string.h>

#include "pqk_runtime.h"

void pqk_concatenation_s8(const pqk_concatenation_s8_params_t *params, const int8_t *const *inputs,
                          int8_t *output)
{
    int32_t o, i;
    for (o = 0; o < params->outer; ++o) {
        for (i = 0; i < params->num_inputs; ++i) {
            const int32_t size = params->copy_sizes[i];
            memcpy(output, inputs[i] + o * size, (size_t)size);
            output += size;
        }
    }
}
