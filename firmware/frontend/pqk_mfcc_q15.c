/*
 * pqk_mfcc_q15 - raw cepstrum of one frame in integers only (cores without FPU, e.g. Cortex-M3).
 * frame[480] int16; reference_peak >= 1; scratch[PQK_MFCC_SCRATCH_ELEMENTS] int32; cepstrum[10] in
 * Q16 natural-log units: DCT(ln(mel + 1e-6 * reference_peak)), as pqk_mfcc_f32 computes in float.
 * Q15 window, block floating point to 16 bits (z = x * w * 2^E), integer FFT magnitudes (scale
 * 2^(E+1)), Q15 mel weights (2^(E+16)), log2 in Q16, DCT rows times ln 2 in Q24.
 * Bit-identical to pqk_mcu/audio/mfcc_fixed.py:frame_cepstra.
 */
#include "pqk_mfcc.h"

void pqk_mfcc_q15(const int16_t *frame, int32_t reference_peak, int32_t *scratch, int32_t *cepstrum)
{
    int32_t *data = scratch;
    uint32_t *magnitude = (uint32_t *)scratch; /* in place: pqk_rfft_magnitude_q15 allows it */
    int32_t *log_mel = scratch + PQK_MFCC_MAG_BINS;
    uint32_t peak = 0;
    for (unsigned n = 0; n < PQK_MFCC_FRAME_LENGTH; ++n) {
        data[n] = (int32_t)frame[n] * pqk_mfcc_window_q15[n];
        const uint32_t magnitude_n = (uint32_t)(data[n] < 0 ? -data[n] : data[n]);
        if (magnitude_n > peak) {
            peak = magnitude_n;
        }
    }
    int32_t shift = 0; /* smallest shift with peak >> shift < 2^15 */
    while ((peak >> shift) >= 32768u) {
        ++shift;
    }
    if (shift > 0) {
        const int32_t rounding = (int32_t)1 << (shift - 1);
        for (unsigned n = 0; n < PQK_MFCC_FRAME_LENGTH; ++n) {
            data[n] = (data[n] + rounding) >> shift;
        }
    }
    for (unsigned n = PQK_MFCC_FRAME_LENGTH; n < PQK_MFCC_FFT_LENGTH; ++n) {
        data[n] = 0;
    }
    const int32_t exponent = 15 - shift;
    pqk_rfft_magnitude_q15(data, magnitude);
    const int32_t offset_shift = 24 - exponent;
    const uint64_t offset = ((uint64_t)(uint32_t)reference_peak * pqk_mfcc_epsilon_q40 +
                             ((uint64_t)1 << (offset_shift - 1))) >> offset_shift;
    for (unsigned band = 0; band < PQK_MFCC_NUM_MEL_BANDS; ++band) {
        const uint16_t *weights = &pqk_mfcc_mel_weight_q15[pqk_mfcc_mel_offset[band]];
        const uint32_t *bins = &magnitude[pqk_mfcc_mel_start[band]];
        uint64_t acc = 0;
        for (unsigned j = 0; j < pqk_mfcc_mel_length[band]; ++j) {
            acc += (uint64_t)weights[j] * bins[j];
        }
        acc += offset;
        log_mel[band] = pqk_log2_q16(acc == 0 ? 1 : acc) - (exponent + 16) * 65536;
    }
    for (unsigned k = 0; k < PQK_MFCC_NUM_COEFFS; ++k) {
        const int32_t *row = &pqk_mfcc_dct_ln2_q24[k * PQK_MFCC_NUM_MEL_BANDS];
        int64_t acc = 0;
        for (unsigned n = 0; n < PQK_MFCC_NUM_MEL_BANDS; ++n) {
            acc += (int64_t)row[n] * log_mel[n];
        }
        cepstrum[k] = (int32_t)((acc + ((int64_t)1 << 23)) >> 24);
    }
}
