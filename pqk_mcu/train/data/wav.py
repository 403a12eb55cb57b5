"""16-bit PCM WAV reading and writing for the data sets, with one-line errors that name the file.

Reading is ``pqk_mcu.audio.wav.read_wav`` (16 kHz mono only), shared with the ``kws run`` reader.
"""

from __future__ import annotations

import os

import numpy as np
from scipy.io import wavfile

from pqk_mcu.atomic import atomic_file
from pqk_mcu.audio.wav import read_wav

__all__ = ["read_wav", "to_int16", "write_wav"]


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] to int16 (rounded, saturated)."""
    return np.clip(np.round(np.asarray(samples, np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def write_wav(path: str | os.PathLike, samples: np.ndarray, sample_rate: int = 16000) -> None:
    """Write mono int16 PCM atomically; float input is converted with ``to_int16``."""
    data = samples if samples.dtype == np.int16 else to_int16(samples)
    with atomic_file(path) as tmp:
        wavfile.write(tmp, sample_rate, data)
