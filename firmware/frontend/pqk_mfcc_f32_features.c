/*
 * pqk_mfcc_f32_features - int8 model input of one 1 s window from its 49 frames' raw cepstra.
 * frames[49] -> float[10] (pqk_mfcc_f32), NULL for a frame of zeros (features of pqk_mfcc_silent_f32); peak = the window's largest sample, clamped to >= 1;
 * scale / zero_point of the model input. Coefficient 0 loses sqrt(80) * ln(peak) (the reference
 * divides the window by its peak), then TFLite QUANTIZE: round(x / scale) half away from zero,
 * + zero_point, clamped to int8. features[49 * 10], frame-major. Bit-identical to
 * pqk_mcu/audio/mfcc_f32.py:window_features.
 */
#pragma GCC optimize("fp-contract=off")
#include <stddef.h>

#include "pqk_mfcc.h"

static int8_t quantize(float value, float scale, int32_t zero_point)
{
    float quotient = value / scale;
    /* Beyond +-1000 the result saturates anyway; the bound keeps the int conversion defined. */
    if (quotient > 1000.0f) {
        quotient = 1000.0f;
    } else if (quotient < -1000.0f) {
        quotient = -1000.0f;
    }
    int32_t rounded = (int32_t)quotient; /* toward zero */
    const float remainder = quotient - (float)rounded;
    if (remainder >= 0.5f) {
        rounded += 1;
    } else if (remainder <= -0.5f) {
        rounded -= 1;
    }
    int32_t result = rounded + zero_point;
    if (result < -128) {
        result = -128;
    } else if (result > 127) {
        result = 127;
    }
    return (int8_t)result;
}

void pqk_mfcc_f32_features(const float *const *frames, int32_t peak, float scale, int32_t zero_point,
                           int8_t *features)
{
    const float correction = pqk_mfcc_coeff0_row_sum_f32 * pqk_log_f32((float)(peak < 1 ? 1 : peak));
    for (unsigned f = 0; f < PQK_MFCC_NUM_FRAMES; ++f) {
        for (unsigned k = 0; k < PQK_MFCC_NUM_COEFFS; ++k) {
            float value;
            if (frames[f] == NULL) {
                value = pqk_mfcc_silent_f32[k];
            } else {
                value = k == 0 ? frames[f][0] - correction : frames[f][k];
            }
            features[f * PQK_MFCC_NUM_COEFFS + k] = quantize(value, scale, zero_point);
        }
    }
}
