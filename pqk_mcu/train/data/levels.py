"""Level measurements on 10 ms frames: speech power and where speech starts and ends in a clip."""

from __future__ import annotations

import numpy as np

FRAME_SECONDS = 0.01


def frame_power(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mean square of consecutive 10 ms frames (a short tail is its own frame)."""
    frame = max(int(sample_rate * FRAME_SECONDS), 1)
    count = -(-len(samples) // frame)
    padded = np.zeros(count * frame, np.float64)
    padded[: len(samples)] = samples
    power = np.mean(np.square(padded).reshape(count, frame), axis=1)
    if len(samples) % frame:
        power[-1] *= frame / (len(samples) % frame)
    return power


def _active(power: np.ndarray, range_db: float) -> np.ndarray:
    loudest = power.max() if power.size else 0.0
    if loudest == 0.0:
        return np.zeros(power.shape, bool)
    return power >= loudest * 10.0 ** (-range_db / 10.0)


def active_power(samples: np.ndarray, sample_rate: int = 16000, range_db: float = 30.0) -> float:
    """Mean power over the frames within ``range_db`` of the loudest: the speech level, pauses excluded."""
    power = frame_power(samples, sample_rate)
    active = _active(power, range_db)
    return float(power[active].mean()) if active.any() else 0.0


def speech_bounds(samples: np.ndarray, sample_rate: int = 16000, range_db: float = 40.0) -> tuple[int, int]:
    """Sample range [start, end) from the first to the last frame within ``range_db`` of the loudest.

    An all-zero clip gives (0, 0).
    """
    active = np.flatnonzero(_active(frame_power(samples, sample_rate), range_db))
    if active.size == 0:
        return 0, 0
    frame = max(int(sample_rate * FRAME_SECONDS), 1)
    return int(active[0] * frame), int(min((active[-1] + 1) * frame, len(samples)))
