"""Read PCM / float WAVs with one-line errors: any WAV as 16 kHz mono int16 for keyword spotting
(``read_wav_16k``), or strictly one rate, mono, as float32 for the training data sets (``read_wav``).

Accepted: 8-bit unsigned, 16/24/32-bit signed and 32/64-bit float samples. ``read_wav_16k`` averages
any number of channels to mono and resamples any rate to 16 kHz with a polyphase filter; ``read_wav``
refuses another rate or more than one channel. Refused with a ``PqkError`` naming the file: a missing
file, a file that is not WAV, a compressed encoding (and for ``read_wav_16k``, no samples).
"""

from __future__ import annotations

import os
import struct
import warnings
from math import gcd
from pathlib import Path

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

from pqk_mcu.audio.speech_commands_layout import SAMPLE_RATE
from pqk_mcu.errors import PqkError

# Full scale of each sample type, as a factor to int16 full scale (24-bit WAVs load left-justified in int32).
_TO_INT16 = {
    np.dtype(np.uint8): None,
    np.dtype(np.int16): 1.0,
    np.dtype(np.int32): 1.0 / 65536.0,
    np.dtype(np.float32): 32768.0,
    np.dtype(np.float64): 32768.0,
}


def _load(path: Path) -> tuple[int, np.ndarray]:
    """Sample rate and samples at int16 full scale as float64 ([frames] or [frames, channels])."""
    if not path.is_file():
        raise PqkError(f"{path}: no such WAV file")
    with open(path, "rb") as handle:
        header = handle.read(12)
    if len(header) < 12 or header[:4] not in (b"RIFF", b"RIFX", b"RF64") or header[8:12] != b"WAVE":
        raise PqkError(f"{path}: not a WAV file (no RIFF/WAVE header)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)  # unknown chunks (LIST, ...) are harmless
            rate, samples = wavfile.read(path)
    # scipy: UnboundLocalError without a fmt chunk, struct.error for a header cut short
    except (ValueError, EOFError, OSError, UnboundLocalError, struct.error) as error:
        raise PqkError(f"{path}: unreadable or corrupt WAV file ({str(error).splitlines()[0]})") from None
    if samples.dtype not in _TO_INT16:
        raise PqkError(f"{path}: unsupported sample format {samples.dtype} (8/16/24/32-bit PCM or float)")
    if rate <= 0:
        raise PqkError(f"{path}: invalid sample rate {rate}")
    if samples.dtype == np.uint8:
        return rate, (samples.astype(np.float64) - 128.0) * 256.0
    return rate, samples.astype(np.float64) * _TO_INT16[samples.dtype]


def read_wav_16k(path: str | os.PathLike) -> np.ndarray:
    """Samples of the WAV at ``path`` as mono int16 at 16 kHz."""
    path = Path(path)
    rate, wide = _load(path)
    if wide.size == 0:
        raise PqkError(f"{path}: the WAV holds no samples")
    if wide.ndim == 2:
        wide = wide.mean(axis=1)
    if rate != SAMPLE_RATE:
        common = gcd(int(rate), SAMPLE_RATE)
        wide = resample_poly(wide, SAMPLE_RATE // common, int(rate) // common)
    return np.clip(np.round(wide), -32768, 32767).astype(np.int16)


def read_wav(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono samples as float32 in [-1, 1) (int16 / 32768, as TensorFlow's decode_wav); rate must match."""
    path = Path(path)
    rate, wide = _load(path)
    if rate != sample_rate:
        raise PqkError(f"{path}: sample rate {rate} Hz, expected {sample_rate} Hz")
    if wide.ndim != 1:
        raise PqkError(f"{path}: {wide.shape[1]} channels, expected mono")
    return (wide / 32768.0).astype(np.float32)
