/*
 * pqk_mfcc_q15_features - int8 model input of one 1 s window from its 49 frames' Q16 cepstra, no FPU.
 * frames[49] -> int32[10] (pqk_mfcc_q15), NULL for a frame of zeros (pqk_mfcc_silent_q16 as it is); peak = the window's largest sample, clamped to >= 1;
 * coefficient 0 loses row0_sum * log2(peak) (Q24 x Q16, rounded to Q16), then the TFLite requantize by
 * (multiplier, shift) = QuantizeMultiplier(1 / (input_scale * 2^16)), + zero_point, clamped to int8.
 * Bit-identical to pqk_mcu/audio/mfcc_fixed.py:window_features.
 */
#include <stddef.h>

#include "pqk_mfcc.h"
#include "pqk_requantize.h"

void pqk_mfcc_q15_features(const int32_t *const *frames, int32_t peak, int32_t multiplier, int32_t shift,
                           int32_t zero_point, int8_t *features)
{
    const int32_t log_peak = pqk_log2_q16((uint64_t)(peak < 1 ? 1 : peak));
    const int32_t correction =
        (int32_t)(((int64_t)pqk_mfcc_coeff0_row_sum_q24 * log_peak + ((int64_t)1 << 23)) >> 24);
    for (unsigned f = 0; f < PQK_MFCC_NUM_FRAMES; ++f) {
        for (unsigned k = 0; k < PQK_MFCC_NUM_COEFFS; ++k) {
            int32_t value;
            if (frames[f] == NULL) {
                value = pqk_mfcc_silent_q16[k];
            } else {
                value = k == 0 ? frames[f][0] - correction : frames[f][k];
            }
            const int32_t scaled = pqk_requantize(value, multiplier, shift) + zero_point;
            features[f * PQK_MFCC_NUM_COEFFS + k] = pqk_clamp_s8(scaled, -128, 127);
        }
    }
}
