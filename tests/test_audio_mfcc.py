"""MFCC front-end against TensorFlow's own MLPerf Tiny KWS pipeline (goldens made by make_goldens.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pqk_mcu.audio import mfcc as m
from pqk_mcu.errors import PqkError
from pqk_mcu.quant import tflite_round

GOLDENS = np.load(Path(__file__).parent / "golden" / "mfcc" / "goldens.npz")
CLIPS = sorted(name[: -len("__audio")] for name in GOLDENS.files if name.endswith("__audio"))


def test_goldens_cover_clipping_padding_and_speech():
    assert {"noise", "chirp_clipped", "short_padded"} <= set(CLIPS)
    assert any(name.startswith("wav_") for name in CLIPS)
    chirp = GOLDENS["chirp_clipped__audio"].astype(np.float32)
    assert chirp.min() < -chirp.max()  # the [-1, 1] clip after dividing by the max is exercised


@pytest.mark.parametrize("name", CLIPS)
def test_features_match_tensorflow(name):
    ours = m.mfcc(GOLDENS[f"{name}__audio"])
    ref = GOLDENS[f"{name}__mfcc"]
    assert ours.shape == ref.shape == (49, 10) and ours.dtype == np.float32
    # Same float32 operations in the same order; TF's FFT (rfft vs pocketfft) and Eigen's logf differ from
    # numpy's in the last bits, and log(mel + 1e-6) amplifies relative error where mel energies are tiny.
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=5e-3)


def test_mel_matrix_matches_tensorflow():
    ref = GOLDENS["mel_matrix"]
    assert m.MEL_MATRIX.shape == ref.shape == (257, 40)
    # Eigen's vectorised logf is not numpy's: a few weights differ by a few float32 ulps.
    np.testing.assert_allclose(m.MEL_MATRIX, ref, atol=1e-5, rtol=0)
    assert (m.MEL_MATRIX[0] == 0).all()  # DC bin zeroed


def test_mel_matrix_is_htk_triangles():
    w = m.MEL_MATRIX.astype(np.float64)
    assert (w >= 0).all() and (w <= 1).all()
    for band in range(40):
        nonzero = np.nonzero(w[:, band])[0]
        assert len(nonzero) > 0 and np.all(np.diff(nonzero) == 1)  # one contiguous run of bins
        peak = nonzero[np.argmax(w[nonzero, band])]
        assert np.all(np.diff(w[nonzero[0] : peak + 1, band]) > 0)
        assert np.all(np.diff(w[peak : nonzero[-1] + 1, band]) < 0)
    freqs = np.arange(257) * 8000 / 256
    used = np.nonzero(w.sum(axis=1))[0]
    assert freqs[used[0]] > 20 and freqs[used[-1]] < 4000


def test_window_and_dct():
    n = np.arange(480)
    np.testing.assert_allclose(m.WINDOW, 0.5 - 0.5 * np.cos(2 * np.pi * n / 480), atol=1e-6)
    dct = m.DCT_MATRIX.astype(np.float64)
    np.testing.assert_allclose(dct[0], np.full(40, 2 / np.sqrt(80)), rtol=1e-6)
    gram = dct[1:] @ dct[1:].T  # rows 1.. orthonormal, row 0 scaled by sqrt(2) (HTK convention)
    np.testing.assert_allclose(gram, np.eye(9), atol=1e-6)


def test_batch_and_input_types():
    rng = np.random.default_rng(1)
    clips = rng.normal(0, 1000, (3, 16000)).astype(np.int16)
    batch = m.mfcc_batch(clips)
    assert batch.shape == (3, 49, 10)
    for clip, features in zip(clips, batch):
        # Batched matrix products (mel, DCT) may sum in another order than single ones in BLAS.
        np.testing.assert_allclose(features, m.mfcc(clip), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(m.mfcc(clips[0]), m.mfcc(clips[0].astype(np.float32)))
    np.testing.assert_array_equal(m.mfcc(clips[0]), m.mfcc(clips[0] * 3))  # scale invariant by the max


def test_silence_is_finite_and_long_clip_rejected():
    features = m.mfcc(np.zeros(16000, np.int16))
    assert np.isfinite(features).all()
    with pytest.raises(PqkError, match="at most 16000"):
        m.mfcc(np.zeros(16001, np.int16))
    with pytest.raises(PqkError, match="one-dimensional"):
        m.mfcc(np.zeros((2, 8000), np.int16))


@given(
    st.lists(st.floats(-300, 300, width=32), min_size=1, max_size=40),
    st.floats(0.015625, 4.0, width=32),
    st.integers(-128, 127),
)
def test_quantize_features_is_tflite_quantize(values, scale, zero_point):
    features = np.array(values, np.float32)
    expected = [
        min(127, max(-128, tflite_round(float(np.float32(v) / np.float32(scale))) + zero_point)) for v in features
    ]
    assert m.quantize_features(features, scale, zero_point).tolist() == expected


def test_quantize_rounds_halves_away_from_zero():
    q = m.quantize_features(np.array([0.5, -0.5, 1.5, -1.5, 2.5], np.float32), 1.0, 0)
    assert q.tolist() == [1, -1, 2, -2, 3]
