/* pqk_mean_s8: int8 MEAN over contiguous axes, viewed as [outer][reduce][inner].
 *
 * input  [outer][reduce][inner] int8; output [outer][inner] int8.
 * Sums in int32, then requantizes with 1/reduce folded into the multiplier.
 */
#include "pqk_requantize.h"
#include "pqk_runtime.h"

void pqk_mean_s8(const pqk_mean_s8_params_t *params, const int8_t *input, int8_t *output)
{
    int32_t o, i, r;
    for (o = 0; o < params->outer; ++o) {
        const int8_t *block = input + o * params->reduce * params->inner;
        for (i = 0; i < params->inner; ++i) {
            int32_t sum = 0;
            for (r = 0; r < params->reduce; ++r) {
                sum += block[r * params->inner + i];
            }
            sum = pqk_requantize(sum - params->input_zero_point_sum, params->multiplier, params->shift)
                  + params->output_zero_point;
            *output++ = pqk_clamp_s8(sum, -128, 127);
        }
    }
}
