"""Integer-only MFCC for cores without an FPU: exact numpy twin of firmware/frontend/pqk_mfcc_q15*.c.

Same streaming decomposition as mfcc_f32.py (a frame keeps ``DCT(log(mel(x) + 1e-6 * m_ref))``, the window
corrects coefficient 0 by its peak), in integers only:

1. window: ``y = x * w`` with the periodic Hann window in Q15 (int32 products);
2. block floating point: ``z = round(y / 2^r)`` with the smallest r that keeps |z| <= 2^15, so
   ``z ~ x * w * 2^E`` with ``E = 15 - r``;
3. 256-point complex radix-2 FFT of the even/odd packed frame, int32 data, Q30 twiddles, every product
   rounded (``(a * w + 2^29) >> 30``); no scaling is needed: 9 doublings of 2^15 stay below 2^25;
4. real split to twice the bins 0..127, magnitude by integer square root (floor) of ``re^2 + im^2``;
5. mel: Q15 weights, exact uint64 sums, plus the offset ``1e-6 * m_ref`` at the same scale 2^(E+16);
6. log2 in Q16: leading-one position and a 129-entry table of ``log2(1 + i/128)``, linear interpolation;
7. DCT rows times ln 2 in Q24 (so the log2 becomes a natural log), int64 sums, rounded to Q16;
8. window: coefficient 0 minus ``row0_sum * log2(m)`` (silent frames: ``SILENT_CEPSTRUM_Q16`` as it is),
   and the TFLite requantize
   (``multiply_by_quantized_multiplier`` by ``1 / (scale * 2^16)``) to the model's int8 input.

Right shifts of negative numbers are arithmetic (floor) in numpy and in gcc alike.
"""

from __future__ import annotations

import math

import numpy as np

from pqk_mcu.audio import mfcc as ref
from pqk_mcu.audio.mfcc_f32 import HALF_FFT, MEL_BIN_END, MEL_LENGTHS, MEL_STARTS, MEL_WEIGHTS, packed_fft
from pqk_mcu.errors import PqkError
from pqk_mcu.quant import INT8_MAX, INT8_MIN, multiply_by_quantized_multiplier_array, quantize_multiplier

WINDOW_Q15 = np.minimum(np.round(ref.WINDOW.astype(np.float64) * 32768.0), 32767).astype(np.int32)
TWIDDLE_Q30_RE = np.round(np.cos(2 * np.pi * np.arange(HALF_FFT) / ref.FFT_LENGTH) * 2.0**30).astype(np.int64)
TWIDDLE_Q30_IM = np.round(-np.sin(2 * np.pi * np.arange(HALF_FFT) / ref.FFT_LENGTH) * 2.0**30).astype(np.int64)
MEL_WEIGHTS_Q15 = [np.round(w.astype(np.float64) * 32768.0).astype(np.int64) for w in MEL_WEIGHTS]
EPSILON_Q40 = round(float(ref.LOG_OFFSET) * 2.0**40)
LOG2_TABLE_BITS = 7
LOG2_TABLE_Q16 = np.round(np.log2(1.0 + np.arange(2**LOG2_TABLE_BITS + 1) / 2**LOG2_TABLE_BITS) * 65536.0).astype(
    np.int64
)
DCT_LN2_Q24 = np.round(ref.DCT_MATRIX.astype(np.float64) * math.log(2.0) * 2.0**24).astype(np.int64)
COEFF0_ROW_SUM_Q24 = int(DCT_LN2_Q24[0].sum())
ROUND_Q30 = 1 << 29


def _rounded_q30(x: np.ndarray) -> np.ndarray:
    return (x + ROUND_Q30) >> 30


def _rotate_q30(wr: np.ndarray, wi: np.ndarray, br: np.ndarray, bi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _rounded_q30(wr * br - wi * bi), _rounded_q30(wr * bi + wi * br)


def _bit_length(values: np.ndarray) -> np.ndarray:
    """Position of the leading one plus one (0 for 0), for non-negative int64 values."""
    values = np.asarray(values, np.int64)
    length = np.zeros(values.shape, np.int64)
    for bit in range(63):
        length = np.where(values >> bit != 0, bit + 1, length)
    return length


def isqrt(values: np.ndarray) -> np.ndarray:
    """floor(sqrt(v)) for int64 v < 2^53, exact (float estimate corrected by one either way)."""
    values = np.asarray(values, np.int64)
    root = np.floor(np.sqrt(values.astype(np.float64))).astype(np.int64)
    root = root - (root * root > values)
    return root + ((root + 1) * (root + 1) <= values)


def log2_q16(values: np.ndarray) -> np.ndarray:
    """pqk_log2_q16: log2 of positive integers in Q16 (leading one + interpolated 129-entry table)."""
    values = np.asarray(values, np.int64)
    exponent = _bit_length(values) - 1
    normalized = np.where(exponent >= 23, values >> np.maximum(exponent - 23, 0), values << np.maximum(23 - exponent, 0))
    index = (normalized >> 16) & (2**LOG2_TABLE_BITS - 1)
    fraction = normalized & 0xFFFF
    low, high = LOG2_TABLE_Q16[index], LOG2_TABLE_Q16[index + 1]
    return (exponent << 16) + low + (((high - low) * fraction + (1 << 15)) >> 16)


def rfft_magnitude_q(z: np.ndarray) -> np.ndarray:
    """pqk_rfft_magnitude_q15: frames [F, 512] int (|z| <= 2^15) -> isqrt(|2 X[k]|^2) for k < 128, int64."""
    re, im = packed_fft(np.asarray(z, np.int64), TWIDDLE_Q30_RE, TWIDDLE_Q30_IM, _rotate_q30)
    k = np.arange(MEL_BIN_END)
    mirror = (HALF_FFT - k) % HALF_FFT
    zr, zi, cr, ci = re[:, k], im[:, k], re[:, mirror], im[:, mirror]
    er2, ei2, or2, oi2 = zr + cr, zi - ci, zi + ci, cr - zr
    wr, wi = TWIDDLE_Q30_RE[k], TWIDDLE_Q30_IM[k]
    xr = er2 + _rounded_q30(wr * or2 - wi * oi2)
    xi = ei2 + _rounded_q30(wr * oi2 + wi * or2)
    return isqrt(xr * xr + xi * xi)


def frame_cepstra(frames: np.ndarray, reference_peaks: np.ndarray) -> np.ndarray:
    """pqk_mfcc_q15 on frames [F, 480] int16 with reference peaks [F] (>= 1): raw cepstra [F, 10] int32 Q16."""
    frames = np.asarray(frames, np.int16).astype(np.int64)
    y = frames * WINDOW_Q15
    peak = np.abs(y).max(axis=1)
    shift = np.maximum(_bit_length(peak) - 15, 0)[:, None]
    z = np.where(shift > 0, (y + (np.int64(1) << np.maximum(shift - 1, 0))) >> shift, y)
    exponent = 15 - shift[:, 0]
    padded = np.zeros((frames.shape[0], ref.FFT_LENGTH), np.int64)
    padded[:, : ref.FRAME_LENGTH] = z
    magnitude = rfft_magnitude_q(padded)
    peaks = np.asarray(reference_peaks, np.int64)
    offset_shift = 24 - exponent
    offsets = (peaks * EPSILON_Q40 + (np.int64(1) << (offset_shift - 1))) >> offset_shift
    log_mel = np.empty((frames.shape[0], ref.NUM_MEL_BINS), np.int64)
    for band in range(ref.NUM_MEL_BINS):
        start, length = MEL_STARTS[band], MEL_LENGTHS[band]
        acc = magnitude[:, start : start + length] @ MEL_WEIGHTS_Q15[band]
        total = np.maximum(acc + offsets, 1)
        log_mel[:, band] = log2_q16(total) - ((exponent + 16) << 16)
    cepstra = log_mel @ DCT_LN2_Q24.T
    return ((cepstra + (1 << 23)) >> 24).astype(np.int32)


def input_multiplier(scale: float) -> tuple[int, int]:
    """(multiplier, shift) taking Q16 cepstra to the model's input scale: 1 / (scale * 2^16)."""
    if not scale > 0:
        raise PqkError(f"input quantization scale must be positive, got {scale}")
    multiplier, shift = quantize_multiplier(1.0 / (float(scale) * 65536.0))
    if shift < -31:
        raise PqkError(f"input quantization scale {scale} is too large for the fixed-point front-end")
    return multiplier, shift


SILENT_CEPSTRUM_Q16 = frame_cepstra(np.zeros((1, ref.FRAME_LENGTH), np.int16), np.ones(1))[0]


def window_features(cepstra: np.ndarray, silent: np.ndarray, peak: int, scale: float, zero_point: int) -> np.ndarray:
    """pqk_mfcc_q15_features: raw cepstra [49, 10] Q16, silent-frame mask [49], the window's peak -> int8."""
    features = np.array(cepstra, np.int64, copy=True)
    log_peak = int(log2_q16(np.array([max(int(peak), 1)]))[0])
    features[:, 0] -= (COEFF0_ROW_SUM_Q24 * log_peak + (1 << 23)) >> 24
    features[np.asarray(silent, bool)] = SILENT_CEPSTRUM_Q16
    multiplier, shift = input_multiplier(scale)
    scaled = multiply_by_quantized_multiplier_array(features.astype(np.int32), multiplier, shift)
    return np.clip(scaled.astype(np.int64) + int(zero_point), INT8_MIN, INT8_MAX).astype(np.int8)
