/* pqk_quantize_s16: QUANTIZE of 16x8 models, TFLite Micro's Requantize with int32 arithmetic.
 *
 * input [size] int8, int16 or int32 (input_bytes 1, 2 or 4); output [size] int8, int16 or int32
 * (output_bytes 1, 2 or 4): clamp(requantize(input - input_zero_point) + output_zero_point) to the output type.
 */
#include "pqk_runtime.h"
#include "pqk_requantize.h"

static int32_t pqk_quantize_load(const void *input, int32_t bytes, int32_t i)
{
    if (bytes == 4) {
        return ((const int32_t *)input)[i];
    }
    return bytes == 2 ? ((const int16_t *)input)[i] : ((const int8_t *)input)[i];
}

static void pqk_quantize_store(void *output, int32_t bytes, int32_t i, int32_t value)
{
    if (bytes == 4) {
        ((int32_t *)output)[i] = value;
    } else if (bytes == 2) {
        ((int16_t *)output)[i] = (int16_t)value;
    } else {
        ((int8_t *)output)[i] = (int8_t)value;
    }
}

void pqk_quantize_s16(const pqk_quantize_s16_params_t *params, const void *input, void *output)
{
    const int32_t bytes = params->output_bytes;
    const int32_t low = bytes == 4 ? INT32_MIN : (bytes == 2 ? INT16_MIN : INT8_MIN);
    const int32_t high = bytes == 4 ? INT32_MAX : (bytes == 2 ? INT16_MAX : INT8_MAX);
    int32_t i;
    for (i = 0; i < params->size; ++i) {
        /* int32 wrap-around like the C++ (unsigned arithmetic keeps it defined). */
        const int32_t centered =
            (int32_t)((uint32_t)pqk_quantize_load(input, params->input_bytes, i) - (uint32_t)params->input_zero_point);
        int32_t value = (int32_t)((uint32_t)pqk_requantize(centered, params->multiplier, params->shift) +
                                  (uint32_t)params->output_zero_point);
        value = value < low ? low : (value > high ? high : value);
        pqk_quantize_store(output, bytes, i, value);
    }
}
