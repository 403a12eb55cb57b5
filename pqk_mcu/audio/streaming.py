"""Streaming keyword spotting, exactly as firmware/apps/kws/ does it: the Python reference of the app.

Audio: 16 kHz int16, padded with zeros to at least 1 s and to whole 10 ms blocks (the host pads the
file it streams to the firmware the same way). Window k starts at k * stride rounded down to the 20 ms
frame step (a 250 ms stride hops 240, 260, 240, ... ms), so that every window's frames lie on one
320-sample grid and each frame is computed once for all the windows sharing it (the app keeps 50).
A frame's raw cepstrum (``frame_cepstra`` of the chosen front-end twin) takes as reference peak the
largest sample of the second ending with the frame; frames of zeros are marked silent. A window takes
its 49 frames and its own peak (``window_features``) to int8 features, which go through the model; the
int8 outputs become integer posteriors (``posteriors_q15``), averaged over the last ``average_windows``
windows; a keyword is reported when its average reaches the threshold and the previous detection is
at least ``suppression_ms`` old. Labels starting with ``_`` (``_silence_``, ``_unknown_``) are never reported.
A stream shorter than the averaging span (at most ``average_windows`` windows: a clip of up to 1.73 s at
the defaults, a one-second Speech Commands clip is one window) is one clip: it reports one line, the class
with the largest posterior averaged over all its windows, at the end of the last one, whatever its score
and label: ``kws: t=1.000s top=yes score=0.93``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from pqk_mcu.audio import mfcc as ref
from pqk_mcu.audio import mfcc_f32, mfcc_fixed
from pqk_mcu.errors import PqkError

BLOCK_SAMPLES = 160
WINDOW_BLOCKS = ref.CLIP_SAMPLES // BLOCK_SAMPLES
Q15_ONE = 1 << 15


@dataclass(frozen=True)
class Frontend:
    """A front-end variant: its frame and window functions (twins of the C ones)."""

    name: str
    frame_cepstra: Callable[[np.ndarray, np.ndarray], np.ndarray]
    window_features: Callable[[np.ndarray, np.ndarray, int, float, int], np.ndarray]


FRONTENDS = {
    "f32": Frontend("f32", mfcc_f32.frame_cepstra, mfcc_f32.window_features),
    "q15": Frontend("q15", mfcc_fixed.frame_cepstra, mfcc_fixed.window_features),
}


@dataclass(frozen=True)
class DetectionConfig:
    stride_ms: int = 250
    average_windows: int = 3
    # Operating point checked on three validation-split streams (60 keywords) of the synthesized corpus
    # with the model of make demo: 0.5 over 3 windows finds 48/60 with 2 false alarms (tau=4 model; 51/60
    # with 5 for the tau=1 model). The best setting of a sweep (1-5 windows, threshold 0.4-0.7, stride
    # 200/250 ms, suppression 0.75-1.5 s) finds at most one keyword more (tau=4: 4 windows, 0.4, 1.5 s:
    # 49/60, 2 false alarms) or two (tau=1: 3 windows, 0.4, 1.5 s: 53/60, 5) — noise on 60 keywords.
    threshold: float = 0.5
    suppression_ms: int = 1000

    def __post_init__(self) -> None:
        if self.stride_ms < 20 or self.stride_ms % 10:
            raise PqkError(f"stride must be a multiple of 10 ms of at least 20 ms, got {self.stride_ms} ms")
        if self.stride_ms > 1000:
            raise PqkError(f"stride must be at most 1000 ms (one window), got {self.stride_ms} ms")
        if not 1 <= self.average_windows <= 16:
            raise PqkError(f"posterior averaging takes 1 to 16 windows, got {self.average_windows}")
        if not 0.0 < self.threshold <= 1.0:
            raise PqkError(f"detection threshold must be in (0, 1], got {self.threshold}")
        if self.suppression_ms < 0:
            raise PqkError(f"suppression time must be >= 0 ms, got {self.suppression_ms}")

    @property
    def stride_samples(self) -> int:
        return self.stride_ms * ref.SAMPLE_RATE // 1000

    @property
    def threshold_q15(self) -> int:
        return min(Q15_ONE, math.ceil(self.threshold * Q15_ONE))


def prepare_stream(audio: np.ndarray) -> np.ndarray:
    """int16 samples padded with zeros to at least 1 s and to a whole number of 10 ms blocks."""
    samples = np.asarray(audio, np.int16).reshape(-1)
    length = max(samples.size, ref.CLIP_SAMPLES)
    length = -(-length // BLOCK_SAMPLES) * BLOCK_SAMPLES
    padded = np.zeros(length, np.int16)
    padded[: samples.size] = samples
    return padded


def window_starts(num_samples: int, stride_samples: int) -> list[int]:
    """k * stride rounded down to the frame step, for every window that fits in the stream."""
    starts, k = [], 0
    while (start := k * stride_samples // ref.FRAME_STEP * ref.FRAME_STEP) + ref.CLIP_SAMPLES <= num_samples:
        starts.append(start)
        k += 1
    return starts


def stream_features(
    audio: np.ndarray, config: DetectionConfig, frontend: Frontend, scale: float, zero_point: int
) -> list[tuple[int, np.ndarray]]:
    """(window end sample, int8 features [49, 10]) for every window of the stream."""
    samples = prepare_stream(audio)
    block_max = samples.reshape(-1, BLOCK_SAMPLES).max(axis=1).astype(np.int32)
    starts = window_starts(samples.size, config.stride_samples)
    offsets = np.arange(ref.NUM_FRAMES) * ref.FRAME_STEP
    positions = sorted({start + int(offset) for start in starts for offset in offsets})
    frames = np.stack([samples[p : p + ref.FRAME_LENGTH] for p in positions])
    reference_peaks = np.array([_peak(block_max, (p + ref.FRAME_LENGTH) // BLOCK_SAMPLES) for p in positions])
    cepstra = frontend.frame_cepstra(frames, reference_peaks)
    silent = ~frames.any(axis=1)
    row = {p: i for i, p in enumerate(positions)}
    windows = []
    for start in starts:
        rows = [row[start + int(offset)] for offset in offsets]
        peak = _peak(block_max, start // BLOCK_SAMPLES + WINDOW_BLOCKS)
        features = frontend.window_features(cepstra[rows], silent[rows], peak, scale, zero_point)
        windows.append((start + ref.CLIP_SAMPLES, features))
    return windows


def _peak(block_max: np.ndarray, end_block: int) -> int:
    """Largest sample of the (up to) 100 blocks before ``end_block``, at least 1."""
    return max(int(block_max[max(0, end_block - WINDOW_BLOCKS) : end_block].max()), 1)


def output_is_probability(scale: float, zero_point: int) -> bool:
    """TFLite's int8 SOFTMAX output (scale 1/256, zero point -128): the outputs already are probabilities."""
    return zero_point == -128 and abs(scale * 256.0 - 1.0) < 1e-6


def exp_table_q15(scale: float) -> np.ndarray:
    """round(2^15 * exp(-scale * i)), i < 256: softmax of int8 logits from their distance to the maximum."""
    return np.round(Q15_ONE * np.exp(-float(scale) * np.arange(256))).astype(np.int64)


def posteriors_q15(output: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer class posteriors in Q15 from the model's int8 output (kws_posteriors in the app)."""
    q = np.asarray(output, np.int64).reshape(-1)
    if output_is_probability(scale, zero_point):
        return (q - zero_point) << 7
    weights = exp_table_q15(scale)[q.max() - q]
    return (weights << 15) // weights.sum()


def format_time(end_sample: int) -> str:
    ms = end_sample * 1000 // ref.SAMPLE_RATE
    return f"{ms // 1000}.{ms % 1000:03d}s"


def format_score(score_q15: int) -> str:
    hundredths = (int(score_q15) * 100 + (1 << 14)) >> 15
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def detections(
    outputs: Sequence[np.ndarray],
    end_samples: Sequence[int],
    labels: Sequence[str],
    config: DetectionConfig,
    scale: float,
    zero_point: int,
) -> list[str]:
    """The app's output lines for the model outputs of consecutive windows."""
    posteriors = [posteriors_q15(output, scale, zero_point) for output in outputs]
    if len(posteriors) <= config.average_windows:
        average = np.sum(posteriors, axis=0) // len(posteriors)
        top = int(np.argmax(average))
        return [f"kws: t={format_time(end_samples[-1])} top={labels[top]} score={format_score(average[top])}"]
    eligible = np.array([not label.startswith("_") for label in labels])
    lines, last_detection_ms = [], None
    for index, end_sample in enumerate(end_samples):
        recent = posteriors[max(0, index + 1 - config.average_windows) : index + 1]
        average = np.sum(recent, axis=0) // len(recent)
        candidates = np.where(eligible, average, -1)
        best = int(np.argmax(candidates))
        time_ms = end_sample * 1000 // ref.SAMPLE_RATE
        if candidates[best] < config.threshold_q15:
            continue
        if last_detection_ms is not None and time_ms - last_detection_ms < config.suppression_ms:
            continue
        last_detection_ms = time_ms
        lines.append(f"kws: t={format_time(end_sample)} word={labels[best]} score={format_score(average[best])}")
    return lines
