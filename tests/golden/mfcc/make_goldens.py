"""Regenerate tests/golden/mfcc/goldens.npz with TensorFlow itself (optional, not part of `make test`).

Runs the MFCC steps of the MLPerf Tiny KWS `get_dataset.py` with tf ops on a few clips:
    python3.11 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu
    /tmp/tfenv/bin/python tests/golden/mfcc/make_goldens.py CLIP.wav ...
The clips stored are: white noise, a chirp whose negative peak exceeds its positive peak (so the
[-1, 1] clip matters), a short clip (zero padded), and any 16 kHz mono 16-bit WAVs given.
"""

import sys
import wave
from pathlib import Path

import numpy as np
import tensorflow as tf


def reference_mfcc(audio_int16: np.ndarray) -> np.ndarray:
    desired_samples = 16000
    wav = tf.cast(audio_int16, tf.float32)
    wav = wav / tf.reduce_max(wav)
    wav = tf.pad(wav, [[0, desired_samples - tf.shape(wav)[-1]]])
    padded = tf.pad(wav, tf.constant([[2, 2]], tf.int32), mode="CONSTANT")
    sliced = tf.slice(padded, tf.constant([2], tf.int32), [desired_samples])
    clamped = tf.clip_by_value(sliced, -1.0, 1.0)
    stfts = tf.signal.stft(clamped, frame_length=480, frame_step=320, fft_length=None, window_fn=tf.signal.hann_window)
    spectrograms = tf.abs(stfts)
    num_spectrogram_bins = stfts.shape[-1]
    matrix = tf.signal.linear_to_mel_weight_matrix(40, num_spectrogram_bins, 16000, 20.0, 4000.0)
    mel = tf.tensordot(spectrograms, matrix, 1)
    log_mel = tf.math.log(mel + 1e-6)
    mfccs = tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., :10]
    return mfccs.numpy().astype(np.float32), matrix.numpy()


def read_wav(path: str) -> np.ndarray:
    with wave.open(path, "rb") as handle:
        assert handle.getframerate() == 16000 and handle.getnchannels() == 1 and handle.getsampwidth() == 2
        return np.frombuffer(handle.readframes(handle.getnframes()), "<i2").copy()


def main() -> None:
    rng = np.random.default_rng(2024)
    t = np.arange(16000) / 16000.0
    chirp = 9000 * np.sin(2 * np.pi * (200 + 1500 * t) * t) - 14000 * np.exp(-((t - 0.5) / 0.01) ** 2)
    clips = {
        "noise": rng.normal(0, 2000, 16000).clip(-32768, 32767).astype(np.int16),
        "chirp_clipped": chirp.astype(np.int16),
        "short_padded": (rng.normal(0, 500, 9000) * np.hanning(9000)).astype(np.int16),
    }
    for path in sys.argv[1:]:
        clips["wav_" + Path(path).stem] = read_wav(path)[:16000]
    arrays = {}
    for name, audio in clips.items():
        features, matrix = reference_mfcc(audio)
        arrays[f"{name}__audio"] = audio
        arrays[f"{name}__mfcc"] = features
    arrays["mel_matrix"] = matrix
    arrays["tf_version"] = np.array(tf.__version__)
    out = Path(__file__).with_name("goldens.npz")
    np.savez_compressed(out, **arrays)
    print(f"wrote {out} ({len(clips)} clips, TensorFlow {tf.__version__})")


if __name__ == "__main__":
    main()
