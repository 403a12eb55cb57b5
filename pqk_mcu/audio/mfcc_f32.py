"""Exact numpy twin of the float32 C front-end (firmware/frontend/pqk_mfcc_f32*.c, pqk_rfft_f32.c, pqk_log_f32.c).

The streaming firmware cannot keep a 1 s window of audio (32 KB) in RAM, so it computes each 480-sample
frame once, when its samples arrive, and keeps only the frame's 10 cepstral coefficients. The reference
(mfcc.py) divides the window by its maximum sample ``m`` before framing; by linearity of the magnitude
spectrum and the mel sum that is

    log(mel(x) / m + 1e-6) = log(mel(x) + 1e-6 * m) - log(m)

so a frame stores ``DCT(log(mel(x) + 1e-6 * m_ref))`` with ``m_ref`` the largest sample of the second
ending with the frame, and when a window completes, coefficient 0 (the only DCT row with a non-zero
sum, sqrt(80)) is corrected by ``- sqrt(80) * log(m)``. A digitally silent frame (all samples zero) has
the features ``DCT(log(1e-6))`` whatever ``m`` is: it is marked and takes ``SILENT_CEPSTRUM`` uncorrected.
Two differences from the reference remain: ``m_ref`` stands in for ``m`` inside the 1e-6 offset (it
matters only for mel bands within a factor ~100 of 1e-6 * m, i.e. nearly silent ones), and the reference
clips ``x / m`` to [-1, 1], which changes samples below ``-m`` (a negative peak larger than the positive
one); the streaming form does not clip. tests/test_audio_frontend.py measures the effect on int8 features.

Every float32 operation here is the C one in the same order (the C files are compiled with
fp-contract off, so no fused multiply-adds), which makes C and twin bit-identical: FFT butterflies in the
same sequence, sums accumulated left to right, the same polynomial log. ``sqrtf`` and division are
correctly rounded IEEE operations on both sides.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from pqk_mcu.audio import mfcc as ref
from pqk_mcu.quant import affine_quantize_array

HALF_FFT = ref.FFT_LENGTH // 2  # 256-point complex FFT of the even/odd packed real frame
MEL_BIN_END = int(np.nonzero(ref.MEL_MATRIX.any(axis=1))[0].max()) + 1  # 128: bins above 4 kHz are unused
LN2 = np.float32(0.693147182)
SQRT_HALF = np.float32(0.707106781)
# ln(m) = s * (2 + s^2 * (2/3 + s^2 * (2/5 + s^2 * (2/7 + s^2 * 2/9)))), s = (m - 1) / (m + 1), |s| < 0.172.
LOG_SERIES = tuple(np.float32(2.0 / n) for n in (9, 7, 5, 3, 1))
COEFF0_ROW_SUM = np.float32(np.sqrt(2.0 * ref.NUM_MEL_BINS))  # sum of DCT row 0: 40 * 2 / sqrt(80)


def twiddles() -> tuple[np.ndarray, np.ndarray]:
    """``exp(-2 pi i k / 512)`` for k < 256 as float32 (cos, -sin); the 256-point FFT uses every other one."""
    k = np.arange(HALF_FFT, dtype=np.float64)
    angle = 2.0 * np.pi * k / ref.FFT_LENGTH
    return np.cos(angle).astype(np.float32), (-np.sin(angle)).astype(np.float32)


TWIDDLE_RE, TWIDDLE_IM = twiddles()
BIT_REVERSE = np.array([int(f"{i:08b}"[::-1], 2) for i in range(HALF_FFT)], dtype=np.int32)


def mel_bands() -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Sparse filterbank: first bin, bin count and float32 weights of each band (its non-zero run)."""
    starts, lengths, weights = [], [], []
    for band in range(ref.NUM_MEL_BINS):
        bins = np.nonzero(ref.MEL_MATRIX[:, band])[0]
        starts.append(int(bins[0]))
        lengths.append(len(bins))
        weights.append(ref.MEL_MATRIX[bins[0] : bins[-1] + 1, band])
    return np.array(starts, np.int32), np.array(lengths, np.int32), weights


MEL_STARTS, MEL_LENGTHS, MEL_WEIGHTS = mel_bands()


def packed_fft(frames: np.ndarray, twiddle_re: np.ndarray, twiddle_im: np.ndarray,
               rotate: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
               ) -> tuple[np.ndarray, np.ndarray]:
    """The 256-point complex FFT of real frames [F, 512] packed even/odd, as the C front-ends compute it:
    bit-reversed input, then radix-2 butterflies in the C order. ``rotate(wr, wi, br, bi) -> (tr, ti)``
    is the twiddle product in the variant's arithmetic. Returns (re, im), each [F, 256]."""
    re = frames[:, 0::2][:, BIT_REVERSE]
    im = frames[:, 1::2][:, BIT_REVERSE]
    half = 1
    while half < HALF_FFT:
        groups = HALF_FFT // (2 * half)
        step = HALF_FFT // half  # twiddle index stride in the 512-entry table: 2 * (256 / (2 * half))
        wr = twiddle_re[np.arange(half) * step]
        wi = twiddle_im[np.arange(half) * step]
        re4 = re.reshape(-1, groups, 2, half)
        im4 = im.reshape(-1, groups, 2, half)
        ar, ai, br, bi = re4[:, :, 0], im4[:, :, 0], re4[:, :, 1], im4[:, :, 1]
        tr, ti = rotate(wr, wi, br, bi)
        re = np.stack([ar + tr, ar - tr], axis=2).reshape(-1, HALF_FFT)
        im = np.stack([ai + ti, ai - ti], axis=2).reshape(-1, HALF_FFT)
        half *= 2
    return re, im


def _rotate(wr: np.ndarray, wi: np.ndarray, br: np.ndarray, bi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return wr * br - wi * bi, wr * bi + wi * br


def rfft_magnitude(windowed: np.ndarray) -> np.ndarray:
    """|X[k]| for k < 128 of 512-point real frames [F, 480 or 512] (zero padded), as pqk_rfft_f32 + sqrtf."""
    frames = np.zeros((windowed.shape[0], ref.FFT_LENGTH), np.float32)
    frames[:, : windowed.shape[1]] = windowed
    re, im = packed_fft(frames, TWIDDLE_RE, TWIDDLE_IM, _rotate)
    k = np.arange(MEL_BIN_END)
    mirror = (HALF_FFT - k) % HALF_FFT
    zr, zi, cr, ci = re[:, k], im[:, k], re[:, mirror], im[:, mirror]
    half_f = np.float32(0.5)
    er = half_f * (zr + cr)
    ei = half_f * (zi - ci)
    orr = half_f * (zi + ci)
    oi = half_f * (cr - zr)
    wr, wi = TWIDDLE_RE[k], TWIDDLE_IM[k]
    xr = er + (wr * orr - wi * oi)
    xi = ei + (wr * oi + wi * orr)
    return np.sqrt(xr * xr + xi * xi).astype(np.float32)


def log_f32(values: np.ndarray) -> np.ndarray:
    """Natural log of positive normal float32 values, as pqk_log_f32 (frexp, atanh series)."""
    mantissa, exponent = np.frexp(np.asarray(values, np.float32))
    mantissa = mantissa.astype(np.float32)
    low = mantissa < SQRT_HALF
    mantissa = np.where(low, mantissa * np.float32(2.0), mantissa).astype(np.float32)
    exponent = np.where(low, exponent - 1, exponent)
    one = np.float32(1.0)
    s = (mantissa - one) / (mantissa + one)
    s2 = s * s
    series = LOG_SERIES[0]
    for coefficient in LOG_SERIES[1:]:
        series = coefficient + s2 * series
    return (exponent.astype(np.float32) * LN2 + s * series).astype(np.float32)


def frame_cepstra(frames: np.ndarray, reference_peaks: np.ndarray) -> np.ndarray:
    """pqk_mfcc_f32 on frames [F, 480] int16 with reference peaks [F] (>= 1): raw cepstra [F, 10] float32."""
    frames = np.asarray(frames, np.int16)
    windowed = frames.astype(np.float32) * ref.WINDOW
    magnitude = rfft_magnitude(windowed)
    offsets = ref.LOG_OFFSET * np.asarray(reference_peaks, np.int32).astype(np.float32)
    log_mel = np.empty((frames.shape[0], ref.NUM_MEL_BINS), np.float32)
    for band in range(ref.NUM_MEL_BINS):
        acc = np.zeros(frames.shape[0], np.float32)
        for j, weight in enumerate(MEL_WEIGHTS[band]):
            acc = acc + weight * magnitude[:, MEL_STARTS[band] + j]
        log_mel[:, band] = log_f32(acc + offsets)
    cepstra = np.zeros((frames.shape[0], ref.NUM_MFCC), np.float32)
    for n in range(ref.NUM_MEL_BINS):
        cepstra = cepstra + ref.DCT_MATRIX[:, n] * log_mel[:, n : n + 1]
    return cepstra


SILENT_CEPSTRUM = frame_cepstra(np.zeros((1, ref.FRAME_LENGTH), np.int16), np.ones(1))[0]


def window_features(cepstra: np.ndarray, silent: np.ndarray, peak: int, scale: float, zero_point: int) -> np.ndarray:
    """pqk_mfcc_f32_features: raw cepstra [49, 10], silent-frame mask [49], the window's peak -> int8 features."""
    correction = COEFF0_ROW_SUM * log_f32(np.float32(max(int(peak), 1)))
    features = np.array(cepstra, np.float32, copy=True)
    features[:, 0] = features[:, 0] - correction
    features[np.asarray(silent, bool)] = SILENT_CEPSTRUM
    return affine_quantize_array(features, float(scale), int(zero_point))
