/*
 * pqk_mfcc_f32 - raw cepstrum of one frame, float32 (FPU cores).
 * frame[480] int16 samples; reference_peak >= 1; scratch[PQK_MFCC_SCRATCH_ELEMENTS]; cepstrum[10]:
 * DCT(log(mel(|FFT(window * frame)|) + 1e-6 * reference_peak)), first 10 coefficients.
 * Bit-identical to pqk_mcu/audio/mfcc_f32.py:frame_cepstra.
 */
#pragma GCC optimize("fp-contract=off")
#include "pqk_mfcc.h"

void pqk_mfcc_f32(const int16_t *frame, int32_t reference_peak, float *scratch, float *cepstrum)
{
    float *data = scratch;
    float *magnitude = scratch; /* in place: pqk_rfft_magnitude_f32 allows it */
    float *log_mel = scratch + PQK_MFCC_MAG_BINS;
    for (unsigned n = 0; n < PQK_MFCC_FRAME_LENGTH; ++n) {
        data[n] = (float)frame[n] * pqk_mfcc_window_f32[n];
    }
    for (unsigned n = PQK_MFCC_FRAME_LENGTH; n < PQK_MFCC_FFT_LENGTH; ++n) {
        data[n] = 0.0f;
    }
    pqk_rfft_magnitude_f32(data, magnitude);
    const float offset = pqk_mfcc_log_offset_f32 * (float)reference_peak;
    for (unsigned band = 0; band < PQK_MFCC_NUM_MEL_BANDS; ++band) {
        const float *weights = &pqk_mfcc_mel_weight_f32[pqk_mfcc_mel_offset[band]];
        const float *bins = &magnitude[pqk_mfcc_mel_start[band]];
        float acc = 0.0f;
        for (unsigned j = 0; j < pqk_mfcc_mel_length[band]; ++j) {
            acc = acc + weights[j] * bins[j];
        }
        log_mel[band] = pqk_log_f32(acc + offset);
    }
    for (unsigned k = 0; k < PQK_MFCC_NUM_COEFFS; ++k) {
        const float *row = &pqk_mfcc_dct_f32[k * PQK_MFCC_NUM_MEL_BANDS];
        float acc = 0.0f;
        for (unsigned n = 0; n < PQK_MFCC_NUM_MEL_BANDS; ++n) {
            acc = acc + row[n] * log_mel[n];
        }
        cepstrum[k] = acc;
    }
}
