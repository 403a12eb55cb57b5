/* pqk_add_s16: 16x8 ADD with 4-D broadcasting (TFLite Micro's int16 general path): input1 + input2.
 *
 * Layout, value ranges and arithmetic: pqk_add_sub_s16.h.
 */
#include "pqk_add_sub_s16.h"

void pqk_add_s16(const pqk_add_s8_params_t *params, const int16_t *input1, const int16_t *input2, int16_t *output)
{
    pqk_add_sub_s16(params, input1, input2, output, 1);
}
