"""MFCC 49x10 of the MLPerf Tiny KWS reference pipeline (``get_dataset.py``), in numpy float32.

The reference computes, with TensorFlow ops, for one 1 s clip of 16 kHz int16 samples:

1. ``x = float32(audio) / reduce_max(audio)`` (the signed maximum, not the maximum magnitude),
   zero-padded to 16000 samples, then clipped to [-1, 1] (``tf.clip_by_value``);
2. ``tf.signal.stft(frame_length=480, frame_step=320, fft_length=512, window_fn=hann_window)``:
   49 frames (``pad_end=False``), periodic Hann window, real FFT of 512 points (257 bins);
3. magnitude ``|X|``;
4. ``tensordot`` with ``tf.signal.linear_to_mel_weight_matrix(40, 257, 16000, 20, 4000)``;
5. ``log(mel + 1e-6)``;
6. ``tf.signal.mfccs_from_log_mel_spectrograms``: DCT-II (unnormalised, ``2 * sum x cos``) times
   ``rsqrt(2 * 40)``, of which the first 10 coefficients are kept.

Every step is float32 in that order, which is also the order of the C port
(``firmware/frontend/pqk_mfcc_f32.c``). The one deliberate deviation: a clip whose maximum sample
is not positive (digital silence) would make TensorFlow divide by zero and produce NaN; here such
a clip is left unscaled, so silence gives the finite features of ``log(1e-6)``.
"""

from __future__ import annotations

import math

import numpy as np

from pqk_mcu.audio.speech_commands_layout import CLIP_SAMPLES, SAMPLE_RATE
from pqk_mcu.errors import PqkError
from pqk_mcu.quant import affine_quantize_array

FRAME_LENGTH = 480
FRAME_STEP = 320
FFT_LENGTH = 512
NUM_BINS = FFT_LENGTH // 2 + 1
NUM_FRAMES = 1 + (CLIP_SAMPLES - FRAME_LENGTH) // FRAME_STEP
NUM_MEL_BINS = 40
LOWER_EDGE_HERTZ = 20.0
UPPER_EDGE_HERTZ = 4000.0
NUM_MFCC = 10
LOG_OFFSET = np.float32(1e-6)
FEATURE_SHAPE = (NUM_FRAMES, NUM_MFCC)

_MEL_BREAK_FREQUENCY_HERTZ = np.float32(700.0)
_MEL_HIGH_FREQUENCY_Q = np.float32(1127.0)


def hann_window(length: int = FRAME_LENGTH) -> np.ndarray:
    """``tf.signal.hann_window(length, periodic=True)`` in float32, operation for operation."""
    count = np.arange(length, dtype=np.float32)
    cos_arg = np.float32(2 * np.pi) * count / np.float32(length)
    return (np.float32(0.5) - np.float32(0.5) * np.cos(cos_arg)).astype(np.float32)


def _hertz_to_mel(frequencies_hertz: np.ndarray) -> np.ndarray:
    frequencies_hertz = np.asarray(frequencies_hertz, dtype=np.float32)
    return (_MEL_HIGH_FREQUENCY_Q * np.log(np.float32(1.0) + frequencies_hertz / _MEL_BREAK_FREQUENCY_HERTZ)).astype(
        np.float32
    )


def _tf_linspace(start: np.float32, stop: np.float32, num: int) -> np.ndarray:
    """``tf.linspace`` in float32: ``start + delta * i`` inside, exact endpoints."""
    start, stop = np.float32(start), np.float32(stop)
    delta = (stop - start) / np.float32(max(num - 1, 1))
    values = start + delta * np.arange(num, dtype=np.float32)
    values[0], values[-1] = start, stop
    return values.astype(np.float32)


def linear_to_mel_weight_matrix(
    num_mel_bins: int = NUM_MEL_BINS,
    num_spectrogram_bins: int = NUM_BINS,
    sample_rate: int = SAMPLE_RATE,
    lower_edge_hertz: float = LOWER_EDGE_HERTZ,
    upper_edge_hertz: float = UPPER_EDGE_HERTZ,
) -> np.ndarray:
    """``tf.signal.linear_to_mel_weight_matrix`` (HTK mel, DC bin zeroed), float32 [bins, mels]."""
    nyquist_hertz = np.float32(sample_rate) / np.float32(2.0)
    linear_frequencies = _tf_linspace(np.float32(0.0), nyquist_hertz, num_spectrogram_bins)[1:]
    spectrogram_bins_mel = _hertz_to_mel(linear_frequencies)[:, None]
    band_edges_mel = _tf_linspace(
        _hertz_to_mel(np.float32(lower_edge_hertz)), _hertz_to_mel(np.float32(upper_edge_hertz)), num_mel_bins + 2
    )
    lower_edge_mel = band_edges_mel[None, :-2]
    center_mel = band_edges_mel[None, 1:-1]
    upper_edge_mel = band_edges_mel[None, 2:]
    lower_slopes = (spectrogram_bins_mel - lower_edge_mel) / (center_mel - lower_edge_mel)
    upper_slopes = (upper_edge_mel - spectrogram_bins_mel) / (upper_edge_mel - center_mel)
    weights = np.maximum(np.float32(0.0), np.minimum(lower_slopes, upper_slopes)).astype(np.float32)
    return np.concatenate([np.zeros((1, num_mel_bins), np.float32), weights], axis=0)


def dct_matrix(num_mel_bins: int = NUM_MEL_BINS, num_mfcc: int = NUM_MFCC) -> np.ndarray:
    """Rows k of ``mfccs_from_log_mel_spectrograms``: ``2 cos(pi k (2n+1) / 2N) / sqrt(2N)``, float32 [k, n]."""
    k = np.arange(num_mfcc, dtype=np.float64)[:, None]
    n = np.arange(num_mel_bins, dtype=np.float64)[None, :]
    basis = 2.0 * np.cos(np.pi * k * (2.0 * n + 1.0) / (2.0 * num_mel_bins))
    return (basis / math.sqrt(2.0 * num_mel_bins)).astype(np.float32)


WINDOW = hann_window()
MEL_MATRIX = linear_to_mel_weight_matrix()
DCT_MATRIX = dct_matrix()


def normalize_clip(audio) -> np.ndarray:
    """Step 1: float32 samples divided by the clip's (signed) maximum, padded to 1 s, clipped to [-1, 1]."""
    samples = np.asarray(audio)
    if samples.ndim != 1:
        raise PqkError(f"audio clip must be one-dimensional, got shape {samples.shape}")
    if samples.size > CLIP_SAMPLES:
        raise PqkError(f"audio clip has {samples.size} samples, the front-end takes at most {CLIP_SAMPLES} (1 s)")
    samples = samples.astype(np.float32)
    peak = samples.max() if samples.size else np.float32(0.0)
    if peak > 0:
        samples = samples / peak
    padded = np.zeros(CLIP_SAMPLES, np.float32)
    padded[: samples.size] = samples
    return np.clip(padded, np.float32(-1.0), np.float32(1.0))


def log_mel_from_frames(frames: np.ndarray) -> np.ndarray:
    """Steps 2-5 for frames [..., 480] of normalised samples: log-mel [..., 40] in float32."""
    windowed = frames.astype(np.float32) * WINDOW
    spectrum = np.abs(np.fft.rfft(windowed, n=FFT_LENGTH, axis=-1)).astype(np.float32)
    mel = spectrum @ MEL_MATRIX
    return np.log(mel + LOG_OFFSET).astype(np.float32)


def frame_signal(clip: np.ndarray) -> np.ndarray:
    """``tf.signal.frame`` without end padding: [49, 480]."""
    starts = np.arange(NUM_FRAMES) * FRAME_STEP
    return clip[starts[:, None] + np.arange(FRAME_LENGTH)[None, :]]


def mfcc(audio) -> np.ndarray:
    """MFCC features (49, 10) float32 of one clip (int16 samples, or floats on the int16 scale)."""
    clip = normalize_clip(audio)
    log_mel = log_mel_from_frames(frame_signal(clip))
    return (log_mel @ DCT_MATRIX.T).astype(np.float32)


def mfcc_batch(clips) -> np.ndarray:
    """MFCC features (N, 49, 10) float32 of a batch (an [N, samples] array or a list of clips)."""
    clips = list(clips) if not isinstance(clips, np.ndarray) else list(clips)
    if not clips:
        return np.zeros((0, *FEATURE_SHAPE), np.float32)
    frames = np.stack([frame_signal(normalize_clip(clip)) for clip in clips])
    return (log_mel_from_frames(frames) @ DCT_MATRIX.T).astype(np.float32)


def quantize_features(features: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """TFLite QUANTIZE float32 -> int8 (``round(x / scale) + zero_point`` in float32, clamped)."""
    if not scale > 0:
        raise PqkError(f"input quantization scale must be positive, got {scale}")
    return affine_quantize_array(np.asarray(features, np.float32), float(scale), int(zero_point))
