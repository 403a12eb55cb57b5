/*
 * pqk_log_f32 - natural logarithm of a positive normal float, identical to
 * pqk_mcu/audio/mfcc_f32.py:log_f32 (libm's logf differs between C libraries; this one does not).
 * value = m * 2^e with m in [sqrt(1/2), sqrt(2)); ln(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172,
 * by its series to s^9 (error below float precision).
 */
#pragma GCC optimize("fp-contract=off")
#include "pqk_mfcc.h"

float pqk_log_f32(float value)
{
    union {
        float f;
        uint32_t u;
    } bits = {value};
    int32_t exponent = (int32_t)((bits.u >> 23) & 0xFFu) - 126;
    bits.u = (bits.u & 0x807FFFFFu) | 0x3F000000u; /* mantissa in [0.5, 1) */
    float mantissa = bits.f;
    if (mantissa < pqk_mfcc_sqrt_half_f32) {
        mantissa = mantissa * 2.0f;
        exponent -= 1;
    }
    const float s = (mantissa - 1.0f) / (mantissa + 1.0f);
    const float s2 = s * s;
    float series = pqk_mfcc_log_series_f32[0];
    for (int i = 1; i < 5; ++i) {
        series = pqk_mfcc_log_series_f32[i] + s2 * series;
    }
    return (float)exponent * pqk_mfcc_ln2_f32 + s * series;
}
