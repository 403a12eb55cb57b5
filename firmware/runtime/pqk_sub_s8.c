/* pqk_sub_s8: int8 SUB with 4-D broadcasting (TFLite int8 semantics): input1 - input2, with pqk_add_s8's
 * parameters.
 *
 * Layout, value ranges and arithmetic: pqk_add_sub_s8.h.
 */
#include "pqk_add_sub_s8.h"

void pqk_sub_s8(const pqk_add_s8_params_t *params, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    pqk_add_sub_s8(params, input1, input2, output, -1);
}
