"""Training augmentation for keyword audio and its features, seeded through ``numpy.random.Generator``.

Synthetic voices are cleaner and more uniform than recorded people; these transforms widen the
training distribution so a model trained on the espeak-ng corpus also hears real speech:

* ``change_speed``: resampling by a factor near 1 (speed perturbation: pitch and tempo move together);
* ``reverberate``: convolution with a synthetic room impulse response (direct path plus exponentially
  decaying noise with a drawn RT60);
* ``apply_gain``: level change in dB, clipped to [-1, 1] like a saturating input stage;
* ``mix_at_snr``: background noise (a slice of a ``_background_noise_`` file) at a signal-to-noise ratio;
* ``time_shift``: move the clip in time, zero filled (+-100 ms in training);
* ``spec_augment``: SpecAugment time and frequency masks on a feature array (frames x coefficients).

``augment_speech`` applies the audio chain with the probabilities and ranges of ``AugmentConfig``.
Clips are float32 in [-1, 1] at 16 kHz.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np
from scipy.signal import fftconvolve, resample_poly

from pqk_mcu.audio.speech_commands_layout import SAMPLE_RATE
from pqk_mcu.train.data.levels import active_power



@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and uniform ranges of the audio chain and of SpecAugment (defaults for synthetic voices)."""

    speed_probability: float = 0.5
    speed_range: tuple[float, float] = (0.88, 1.12)
    reverb_probability: float = 0.3
    rt60_range_s: tuple[float, float] = (0.15, 0.6)
    gain_probability: float = 0.5
    gain_range_db: tuple[float, float] = (-12.0, 6.0)
    noise_probability: float = 0.5
    snr_range_db: tuple[float, float] = (5.0, 30.0)
    time_masks: int = 2
    max_time_mask: int = 6
    frequency_masks: int = 1
    max_frequency_mask: int = 2


def time_shift(clip: np.ndarray, shift: int) -> np.ndarray:
    """``clip`` moved later by ``shift`` samples (earlier when negative), zero filled, same length."""
    out = np.zeros_like(clip)
    if shift >= 0:
        out[shift:] = clip[: len(clip) - shift]
    else:
        out[:shift] = clip[-shift:]
    return out


def random_time_shift(clip: np.ndarray, rng: np.random.Generator, max_shift: int) -> np.ndarray:
    """Shift by a uniform integer in [-max_shift, max_shift] samples (TensorFlow's time_shift rule)."""
    if max_shift <= 0:
        return clip
    return time_shift(clip, int(rng.integers(-max_shift, max_shift + 1)))


def noise_slice(backgrounds: Sequence[np.ndarray], rng: np.random.Generator, length: int) -> np.ndarray:
    """A random ``length``-sample window of a random background recording (looped when shorter)."""
    noise = backgrounds[int(rng.integers(len(backgrounds)))]
    if len(noise) < length:
        noise = np.tile(noise, length // len(noise) + 1)
    start = int(rng.integers(0, len(noise) - length + 1))
    return noise[start : start + length]


def mix_at_snr(clip: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``clip`` plus ``noise`` scaled so that speech power / noise power is ``snr_db``; clipped to [-1, 1]."""
    noise_power = float(np.mean(np.square(noise, dtype=np.float64)))
    speech_power = active_power(clip)
    if noise_power == 0.0 or speech_power == 0.0:
        return clip
    scale = np.sqrt(speech_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    return np.clip(clip + np.float32(scale) * noise, -1.0, 1.0).astype(np.float32)


def apply_gain(clip: np.ndarray, gain_db: float) -> np.ndarray:
    return np.clip(clip * np.float32(10.0 ** (gain_db / 20.0)), -1.0, 1.0).astype(np.float32)


def room_impulse_response(rng: np.random.Generator, rt60_s: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Direct path (1.0) followed after 2 ms by Gaussian noise decaying by 60 dB in ``rt60_s`` seconds."""
    length = max(int(rt60_s * sample_rate), 2)
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * np.exp(-6.9078 * t / rt60_s)  # ln(1000): amplitude -60 dB at rt60
    tail[: int(0.002 * sample_rate)] = 0.0
    tail *= 0.5 / max(np.sqrt(np.sum(tail**2)), 1e-12)  # reverberant energy 6 dB below the direct path
    tail[0] = 1.0
    return tail.astype(np.float32)


def reverberate(clip: np.ndarray, impulse_response: np.ndarray) -> np.ndarray:
    """Convolve and keep the clip's length and peak level (the room colours the sound, it does not amplify it)."""
    wet = fftconvolve(clip, impulse_response)[: len(clip)]
    peak_in, peak_out = np.abs(clip).max(), np.abs(wet).max()
    if peak_out > 0:
        wet *= peak_in / peak_out
    return wet.astype(np.float32)


def change_speed(clip: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor`` times faster (higher and shorter above 1) by resampling; re-centred at the same length."""
    ratio = Fraction(factor).limit_denominator(100)
    resampled = resample_poly(clip, ratio.denominator, ratio.numerator).astype(np.float32)
    out = np.zeros_like(clip)
    if len(resampled) >= len(clip):
        start = (len(resampled) - len(clip)) // 2
        out[:] = resampled[start : start + len(clip)]
    else:
        start = (len(clip) - len(resampled)) // 2
        out[start : start + len(resampled)] = resampled
    return out


def augment_speech(clip: np.ndarray, rng: np.random.Generator, config: AugmentConfig,
                   backgrounds: Sequence[np.ndarray] = ()) -> np.ndarray:
    """Speed, reverberation, gain and noise at a drawn SNR, each with its probability in ``config``."""
    if rng.uniform() < config.speed_probability:
        clip = change_speed(clip, rng.uniform(*config.speed_range))
    if rng.uniform() < config.reverb_probability:
        clip = reverberate(clip, room_impulse_response(rng, rng.uniform(*config.rt60_range_s)))
    if rng.uniform() < config.gain_probability:
        clip = apply_gain(clip, rng.uniform(*config.gain_range_db))
    if backgrounds and rng.uniform() < config.noise_probability:
        clip = mix_at_snr(clip, noise_slice(backgrounds, rng, len(clip)), rng.uniform(*config.snr_range_db))
    return clip.astype(np.float32)


def spec_augment(features: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """SpecAugment masks on ``features`` [frames, coefficients, ...]: masked cells take the array's mean.

    The mean (not zero) keeps masks neutral for MFCCs, whose zero is not silence.
    """
    out = np.array(features, dtype=np.float32, copy=True)
    fill = np.float32(out.mean())
    frames, coefficients = out.shape[0], out.shape[1]
    for _ in range(config.time_masks):
        width = int(rng.integers(0, config.max_time_mask + 1))
        start = int(rng.integers(0, frames - width + 1))
        out[start : start + width] = fill
    for _ in range(config.frequency_masks):
        width = int(rng.integers(0, config.max_frequency_mask + 1))
        start = int(rng.integers(0, coefficients - width + 1))
        out[:, start : start + width] = fill
    return out
