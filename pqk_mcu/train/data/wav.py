"""16-bit PCM WAV reading and writing for the data sets, with one-line errors that name the file."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from pqk_mcu.atomic import atomic_file
from pqk_mcu.errors import PqkError

_INTEGER_SCALES = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0}


def read_wav(path: str | os.PathLike, sample_rate: int = 16000) -> np.ndarray:
    """Mono samples as float32 in [-1, 1) (int16 / 32768, as TensorFlow's decode_wav); rate must match."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)  # unknown chunks (LIST, ...) are harmless
            rate, samples = wavfile.read(path)
    except FileNotFoundError:
        raise PqkError(f"{path}: no such WAV file") from None
    except (ValueError, EOFError, OSError, UnboundLocalError) as error:  # scipy: UnboundLocalError without a fmt chunk
        raise PqkError(f"{path}: unreadable or corrupt WAV file ({str(error).partition(chr(10))[0]})") from None
    if rate != sample_rate:
        raise PqkError(f"{path}: sample rate {rate} Hz, expected {sample_rate} Hz")
    if samples.ndim != 1:
        raise PqkError(f"{path}: {samples.shape[1]} channels, expected mono")
    if samples.dtype in _INTEGER_SCALES:
        return (samples / np.float32(_INTEGER_SCALES[samples.dtype])).astype(np.float32)
    if samples.dtype == np.uint8:
        return ((samples.astype(np.float32) - 128.0) / 128.0).astype(np.float32)
    if samples.dtype == np.float32:
        return samples
    raise PqkError(f"{path}: unsupported sample format {samples.dtype}")


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] to int16 (rounded, saturated)."""
    return np.clip(np.round(np.asarray(samples, np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def write_wav(path: str | os.PathLike, samples: np.ndarray, sample_rate: int = 16000) -> None:
    """Write mono int16 PCM atomically; float input is converted with ``to_int16``."""
    data = samples if samples.dtype == np.int16 else to_int16(samples)
    with atomic_file(path) as tmp:
        wavfile.write(tmp, sample_rate, data)
