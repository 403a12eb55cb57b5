/*
 * pqk_log2_q16 - log2 of an integer >= 1 in Q16, no FPU: position of the leading one plus
 * log2(1 + f) from a 129-entry Q16 table indexed by the next 7 bits, linearly interpolated with the
 * 16 bits after them. Bit-identical to pqk_mcu/audio/mfcc_fixed.py:log2_q16.
 */
#include "pqk_mfcc.h"

int32_t pqk_log2_q16(uint64_t value)
{
    int32_t exponent = 63;
    while (exponent > 0 && (value >> exponent) == 0) {
        --exponent;
    }
    const uint64_t normalized = exponent >= 23 ? value >> (exponent - 23) : value << (23 - exponent);
    const uint32_t index = (uint32_t)(normalized >> 16) & 127u;
    const int32_t fraction = (int32_t)(normalized & 0xFFFFu);
    const int32_t low = pqk_mfcc_log2_q16[index];
    const int32_t high = pqk_mfcc_log2_q16[index + 1];
    return exponent * 65536 + low + (int32_t)(((int64_t)(high - low) * fraction + (1 << 15)) >> 16);
}
