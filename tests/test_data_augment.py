"""Augmentations: shift, SNR mixing, reverberation, speed, gain, SpecAugment; all seeded."""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.train.data.augment import (
    AugmentConfig, apply_gain, augment_speech, change_speed, mix_at_snr, reverberate, room_impulse_response,
    spec_augment, time_shift)
from pqk_mcu.train.data.levels import active_power, speech_bounds


def _word(frequency: float = 800.0) -> np.ndarray:
    """A 0.4 s Hann-shaped tone in the middle of a 1 s clip."""
    clip = np.zeros(16000, np.float32)
    t = np.arange(6400) / 16000
    clip[4800:11200] = 0.5 * np.hanning(6400) * np.sin(2 * np.pi * frequency * t)
    return clip


def test_time_shift_moves_and_zero_fills():
    clip = np.arange(1, 11, dtype=np.float32)
    assert time_shift(clip, 3).tolist() == [0, 0, 0, 1, 2, 3, 4, 5, 6, 7]
    assert time_shift(clip, -2).tolist() == [3, 4, 5, 6, 7, 8, 9, 10, 0, 0]
    assert time_shift(clip, 0).tolist() == clip.tolist()


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 25.0])
def test_mix_at_snr_hits_the_ratio_against_speech_power(snr_db: float):
    clip = _word()
    noise = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    mixed = mix_at_snr(clip, noise, snr_db)
    added = mixed - clip
    measured = 10 * np.log10(active_power(clip) / np.mean(added.astype(np.float64) ** 2))
    # The noise is scaled in float32 over a finite clip: the realized ratio is within a few hundredths of a dB.
    assert measured == pytest.approx(snr_db, abs=0.05)


def test_speech_bounds_finds_the_word():
    start, end = speech_bounds(_word())
    assert 4800 <= start <= 5600 and 10400 <= end <= 11200
    assert speech_bounds(np.zeros(1000, np.float32)) == (0, 0)


def test_reverberation_keeps_length_and_peak_and_adds_a_tail():
    clip = _word()
    response = room_impulse_response(np.random.default_rng(0), rt60_s=0.4)
    assert len(response) == 6400 and response[0] == 1.0 and not response[1:32].any()
    wet = reverberate(clip, response)
    # The wet signal is renormalized to the dry peak in float32 (one rounding).
    assert wet.shape == clip.shape and np.abs(wet).max() == pytest.approx(np.abs(clip).max(), rel=1e-5)
    assert np.abs(wet[11300:12000]).max() > 1e-3 and not clip[11300:12000].any()  # energy after the word ends


def test_change_speed_changes_duration_and_pitch():
    clip = _word(800.0)
    length = np.subtract(*speech_bounds(clip)[::-1])
    for factor in (1.25, 0.8):
        changed = change_speed(clip, factor)
        assert changed.shape == clip.shape
        assert np.subtract(*speech_bounds(changed)[::-1]) == pytest.approx(length / factor, abs=320)  # 10 ms frames at both ends
        spectrum = np.abs(np.fft.rfft(changed))
        # The FFT of a 1 s clip has 1 Hz bins; resampling windows smear the peak by a few bins.
        assert np.fft.rfftfreq(16000, 1 / 16000)[spectrum.argmax()] == pytest.approx(800.0 * factor, abs=5)


def test_gain_scales_and_saturates():
    clip = _word()
    # float32 gain arithmetic.
    assert np.abs(apply_gain(clip, -6.0)).max() == pytest.approx(0.5 * 10 ** (-6 / 20), rel=1e-4)
    assert np.abs(apply_gain(clip, 20.0)).max() == 1.0


def test_spec_augment_masks_bands_with_the_mean():
    features = np.random.default_rng(0).standard_normal((49, 10)).astype(np.float32)
    config = AugmentConfig(time_masks=1, max_time_mask=6, frequency_masks=1, max_frequency_mask=2)
    masked = [spec_augment(features, np.random.default_rng(s), config) for s in range(20)]
    fill = np.float32(features.mean())
    assert all(m.shape == features.shape for m in masked)
    changed = [m != features for m in masked]
    assert any(c.any() for c in changed)
    for m, c in zip(masked, changed):
        assert np.all(m[c] == fill)
        rows, cols = np.flatnonzero(c.all(axis=1)), np.flatnonzero(c.all(axis=0))
        assert len(rows) <= 6 and len(cols) <= 2
    assert np.array_equal(spec_augment(features, np.random.default_rng(5), config), masked[5])


def test_augment_speech_is_seeded_and_stays_in_range():
    clip = _word()
    noise = [np.random.default_rng(1).standard_normal(20000).astype(np.float32) * 0.2]
    config = AugmentConfig(speed_probability=1, reverb_probability=1, gain_probability=1, noise_probability=1)
    first = augment_speech(clip, np.random.default_rng(7), config, noise)
    assert np.array_equal(first, augment_speech(clip, np.random.default_rng(7), config, noise))
    assert not np.array_equal(first, augment_speech(clip, np.random.default_rng(8), config, noise))
    assert first.dtype == np.float32 and first.shape == clip.shape and np.abs(first).max() <= 1.0
    off = AugmentConfig(speed_probability=0, reverb_probability=0, gain_probability=0, noise_probability=0)
    assert np.array_equal(augment_speech(clip, np.random.default_rng(7), off, noise), clip)
