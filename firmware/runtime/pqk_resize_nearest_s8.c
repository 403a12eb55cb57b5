/* pqk_resize_nearest_s8: int8 RESIZE_NEAREST_NEIGHBOR (TFLite semantics), NHWC.
 *
 * Output pixel (y, x) of batch b copies the channels of input pixel
 * b * input_batch_size + row_offsets[y] + column_offsets[x]; the source indices (align_corners,
 * half_pixel_centers) are computed at compile time. Values move unchanged: input and output share
 * quantization.
 */
#include "pqk_runtime.h"

void pqk_resize_nearest_s8(const pqk_resize_nearest_s8_params_t *params, const int8_t *input, int8_t *output)
{
    int32_t b, y, x, c;
    for (b = 0; b < params->batches; ++b) {
        const int8_t *batch = input + b * params->input_batch_size;
        for (y = 0; y < params->output_h; ++y) {
            const int8_t *row = batch + params->row_offsets[y];
            for (x = 0; x < params->output_w; ++x) {
                const int8_t *pixel = row + params->column_offsets[x];
                for (c = 0; c < params->channels; ++c) {
                    *output++ = pixel[c];
                }
            }
        }
    }
}
