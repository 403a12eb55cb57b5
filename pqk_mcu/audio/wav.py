"""Read any PCM / float WAV as 16 kHz mono int16 for keyword spotting, with one-line errors.

Accepted: 8-bit unsigned, 16/24/32-bit signed and 32/64-bit float samples, any number of channels
(averaged to mono), any sample rate (resampled to 16 kHz with a polyphase filter). Refused with a
``PqkError`` naming the file: a missing file, a file that is not WAV, a compressed encoding, no samples.
"""

from __future__ import annotations

import os
import warnings
from math import gcd
from pathlib import Path

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

from pqk_mcu.errors import PqkError

SAMPLE_RATE = 16000
# Full scale of each sample type, as a factor to int16 full scale (24-bit WAVs load left-justified in int32).
_TO_INT16 = {
    np.dtype(np.uint8): None,
    np.dtype(np.int16): 1.0,
    np.dtype(np.int32): 1.0 / 65536.0,
    np.dtype(np.float32): 32768.0,
    np.dtype(np.float64): 32768.0,
}


def read_wav_16k(path: str | os.PathLike) -> np.ndarray:
    """Samples of the WAV at ``path`` as mono int16 at 16 kHz."""
    path = Path(path)
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
    except (ValueError, EOFError, OSError, UnboundLocalError) as error:  # scipy: UnboundLocalError without a fmt chunk
        raise PqkError(f"{path}: unsupported or corrupt WAV ({str(error).splitlines()[0]})") from None
    if samples.dtype not in _TO_INT16:
        raise PqkError(f"{path}: unsupported sample format {samples.dtype} (8/16/24/32-bit PCM or float)")
    if samples.shape[0] == 0 or samples.size == 0:
        raise PqkError(f"{path}: the WAV holds no samples")
    if rate <= 0:
        raise PqkError(f"{path}: invalid sample rate {rate}")
    if samples.dtype == np.uint8:
        wide = (samples.astype(np.float64) - 128.0) * 256.0
    else:
        wide = samples.astype(np.float64) * _TO_INT16[samples.dtype]
    if wide.ndim == 2:
        wide = wide.mean(axis=1)
    if rate != SAMPLE_RATE:
        common = gcd(int(rate), SAMPLE_RATE)
        wide = resample_poly(wide, SAMPLE_RATE // common, int(rate) // common)
    return np.clip(np.round(wide), -32768, 32767).astype(np.int16)
