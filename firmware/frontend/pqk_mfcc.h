/*
 * pqk_mfcc.h - MFCC front-end of the KWS firmware: the 49x10 MFCC of the MLPerf Tiny KWS pipeline
 * (pqk_mcu/audio/mfcc.py), computed frame by frame as audio streams in.
 *
 * A frame is 480 int16 samples at 16 kHz (30 ms); a 1 s window holds 49 frames 320 samples apart.
 * Each frame is computed once into 10 raw cepstral coefficients, DCT(log(mel + 1e-6 * reference_peak));
 * when a window is complete, the *_features function corrects coefficient 0 by the window's peak sample
 * (the reference divides the window by it) and quantizes to the model's int8 input. A frame whose
 * samples are all zero is passed as NULL: its features are those of silence, pqk_mfcc_silent_*.
 * Two variants, bit-identical to their numpy twins: float32 (pqk_mcu/audio/mfcc_f32.py, FPU cores) and
 * integer-only (pqk_mcu/audio/mfcc_fixed.py, cores without FPU). Tables: pqk_mfcc_tables.c (generated).
 */
#ifndef PQK_MFCC_H
#define PQK_MFCC_H

#include <stdint.h>

#define PQK_MFCC_SAMPLE_RATE 16000
#define PQK_MFCC_FRAME_LENGTH 480
#define PQK_MFCC_FRAME_STEP 320
#define PQK_MFCC_WINDOW_SAMPLES 16000
#define PQK_MFCC_NUM_FRAMES 49
#define PQK_MFCC_NUM_COEFFS 10
#define PQK_MFCC_NUM_MEL_BANDS 40
#define PQK_MFCC_FFT_LENGTH 512
#define PQK_MFCC_MAG_BINS 128 /* bins above 4 kHz carry no mel weight */

/* Scratch of one frame computation, in elements: float for f32, int32 for q15 (the FFT buffer, reused
 * for the magnitudes and the log-mel energies). */
#define PQK_MFCC_SCRATCH_ELEMENTS PQK_MFCC_FFT_LENGTH

/* float32: frame[480] int16, reference_peak >= 1 (largest sample of the second ending with the frame),
 * scratch[PQK_MFCC_SCRATCH_ELEMENTS] -> cepstrum[10]. */
void pqk_mfcc_f32(const int16_t *frame, int32_t reference_peak, float *scratch, float *cepstrum);

/* float32: frames[49] pointers to raw cepstra (NULL: a silent frame), peak = the window's largest sample (clamped to >= 1),
 * TFLite QUANTIZE with the model input's scale and zero point -> features[49 * 10] int8. */
void pqk_mfcc_f32_features(const float *const *frames, int32_t peak, float scale, int32_t zero_point,
                           int8_t *features);

/* Magnitudes |X[k]|, k < 128, of the 512-point real FFT of data[512] (destroyed; magnitude may be data). */
void pqk_rfft_magnitude_f32(float *data, float *magnitude);

/* Natural logarithm of a positive normal float (frexp + atanh series, ~1 ulp). */
float pqk_log_f32(float value);

/* Integer-only: as pqk_mfcc_f32, cepstrum[10] in Q16 (natural-log units). */
void pqk_mfcc_q15(const int16_t *frame, int32_t reference_peak, int32_t *scratch, int32_t *cepstrum);

/* Integer-only: as pqk_mfcc_f32_features; multiplier/shift from pqk_mcu.audio.mfcc_fixed.input_multiplier. */
void pqk_mfcc_q15_features(const int32_t *const *frames, int32_t peak, int32_t multiplier, int32_t shift,
                           int32_t zero_point, int8_t *features);

/* isqrt(|2 X[k]|^2), k < 128, of the 512-point real FFT of data[512] (|data| <= 2^15, destroyed;
 * magnitude may be data). */
void pqk_rfft_magnitude_q15(int32_t *data, uint32_t *magnitude);

/* log2(value) in Q16 for value >= 1. */
int32_t pqk_log2_q16(uint64_t value);

/* Tables (pqk_mfcc_tables.c). */
extern const float pqk_mfcc_window_f32[PQK_MFCC_FRAME_LENGTH];
extern const int16_t pqk_mfcc_window_q15[PQK_MFCC_FRAME_LENGTH];
extern const float pqk_mfcc_twiddle_re_f32[PQK_MFCC_FFT_LENGTH / 2];
extern const float pqk_mfcc_twiddle_im_f32[PQK_MFCC_FFT_LENGTH / 2];
extern const int32_t pqk_mfcc_twiddle_re_q30[PQK_MFCC_FFT_LENGTH / 2];
extern const int32_t pqk_mfcc_twiddle_im_q30[PQK_MFCC_FFT_LENGTH / 2];
extern const uint8_t pqk_mfcc_bit_reverse[PQK_MFCC_FFT_LENGTH / 2];
extern const uint8_t pqk_mfcc_mel_start[PQK_MFCC_NUM_MEL_BANDS];
extern const uint8_t pqk_mfcc_mel_length[PQK_MFCC_NUM_MEL_BANDS];
extern const uint16_t pqk_mfcc_mel_offset[PQK_MFCC_NUM_MEL_BANDS];
extern const float pqk_mfcc_mel_weight_f32[];
extern const uint16_t pqk_mfcc_mel_weight_q15[];
extern const float pqk_mfcc_dct_f32[PQK_MFCC_NUM_COEFFS * PQK_MFCC_NUM_MEL_BANDS];
extern const int32_t pqk_mfcc_dct_ln2_q24[PQK_MFCC_NUM_COEFFS * PQK_MFCC_NUM_MEL_BANDS];
extern const int32_t pqk_mfcc_log2_q16[129];
extern const float pqk_mfcc_silent_f32[PQK_MFCC_NUM_COEFFS];
extern const int32_t pqk_mfcc_silent_q16[PQK_MFCC_NUM_COEFFS];
extern const float pqk_mfcc_log_offset_f32;
extern const float pqk_mfcc_ln2_f32;
extern const float pqk_mfcc_sqrt_half_f32;
extern const float pqk_mfcc_log_series_f32[5];
extern const float pqk_mfcc_coeff0_row_sum_f32;
extern const int32_t pqk_mfcc_coeff0_row_sum_q24;
extern const uint32_t pqk_mfcc_epsilon_q40;

#endif /* PQK_MFCC_H */
