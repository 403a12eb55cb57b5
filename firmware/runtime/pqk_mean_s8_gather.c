/* pqk_mean_s8_gather: int8 MEAN over any axes (reduced axes not contiguous).
 *
 * input  int8, any shape; output [outputs] int8 (the kept axes in order).
 * Output o is requantize(sum over r of input[output_offsets[o] + reduce_offsets[r]] - input_zero_point_sum)
 * + output_zero_point clamped to int8, with 1/reduce folded into (multiplier, shift): the same arithmetic
 * as pqk_mean_s8, which runs the contiguous case without offset tables.
 */
#include "pqk_requantize.h"
#include "pqk_runtime.h"

void pqk_mean_s8_gather(const pqk_mean_s8_gather_params_t *params, const int8_t *input, int8_t *output)
{
    int32_t o, r;
    for (o = 0; o < params->outputs; ++o) {
        const int8_t *first = input + params->output_offsets[o];
        int32_t sum = 0;
        for (r = 0; r < params->reduce; ++r) {
            sum += first[params->reduce_offsets[r]];
        }
        sum = pqk_requantize(sum - params->input_zero_point_sum, params->multiplier, params->shift)
              + params->output_zero_point;
        output[o] = pqk_clamp_s8(sum, -128, 127);
    }
}
