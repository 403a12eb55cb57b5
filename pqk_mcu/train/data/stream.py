"""A test stream for the KWS demo: held-out keywords at known times over background noise.

``make_stream`` takes keyword clips from one split of a Speech Commands folder (default ``test``: in the
synthesized corpus, voices and variants never heard in training), places them so that their speech
centres are at least ``min_gap_s`` apart (speech never overlaps) and at least 1 s from either end,
and adds a ``_background_noise_`` recording at ``snr_db`` below the mean keyword speech level. The
truth is the time of each keyword's speech centre (midpoint of the frames within 40 dB of its loudest).
Words are balanced: the ten keywords in seeded order, cycled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from pqk_mcu.atomic import write_text_atomic
from pqk_mcu.errors import PqkError
from pqk_mcu.train.data.augment import noise_slice
from pqk_mcu.train.data.levels import active_power, speech_bounds
from pqk_mcu.audio.speech_commands_layout import BACKGROUND_NOISE_DIR, KWS_WORDS, SAMPLE_RATE, UNKNOWN_LABEL
from pqk_mcu.train.data.speech_commands import SPLITS, SpeechCommands, load_background_noise
from pqk_mcu.train.data.wav import read_wav, to_int16, write_wav

LEAD_SECONDS = 1.0
PEAK = 0.9  # the loudest sample of the stream, as a fraction of int16 full scale


class KeywordTruth(NamedTuple):
    """A keyword of the stream: the time of its speech centre (s) and the word."""

    time_s: float
    word: str


@dataclass(frozen=True)
class _Placement:
    clip: np.ndarray
    center: int  # speech centre inside the clip, in samples
    word: str


def _centers(rng: np.random.Generator, count: int, seconds: float, min_gap_s: float) -> np.ndarray:
    """Sorted times in [1 s, seconds - 1 s], consecutive ones at least ``min_gap_s`` apart, uniformly spread."""
    free = seconds - 2 * LEAD_SECONDS - (count - 1) * min_gap_s
    if count == 0:
        return np.zeros(0)
    if free < 0:
        raise PqkError(f"a {seconds:g} s stream cannot hold {count} words {min_gap_s:g} s apart "
                       f"with {LEAD_SECONDS:g} s at either end")
    return LEAD_SECONDS + np.sort(rng.uniform(0.0, free, size=count)) + min_gap_s * np.arange(count)


def _pick(rng: np.random.Generator, dataset: SpeechCommands, split: str, words: Sequence[str],
          n_keywords: int, n_unknown: int) -> list[_Placement]:
    by_word: dict[str, list[Path]] = {}
    unknown: list[Path] = []
    for ref in dataset.splits[split]:
        if ref.path is None:
            continue
        name = dataset.class_names[ref.label]
        (unknown if name == UNKNOWN_LABEL else by_word.setdefault(name, [])).append(ref.path)
    missing = [w for w in words if not by_word.get(w)]
    if missing:
        raise PqkError(f"stream: no {split} clips of {', '.join(missing)} in {dataset.root}")
    if n_unknown > len(unknown):
        raise PqkError(f"stream: {n_unknown} unknown words asked, the {split} split has {len(unknown)}")
    order = [str(w) for w in rng.permutation(list(words))]
    pools = {w: [paths[i] for i in rng.permutation(len(paths))] for w, paths in ((w, sorted(by_word[w])) for w in words)}
    sources = []
    for k in range(n_keywords):
        word = order[k % len(order)]
        pool = pools[word]
        sources.append((word, pool[k // len(order) % len(pool)]))  # a word's n-th occurrence: its n-th clip
    unknown = sorted(unknown)
    sources += [(UNKNOWN_LABEL, unknown[i]) for i in rng.choice(len(unknown), size=n_unknown, replace=False)]
    placements = []
    for word, path in sources:
        clip = read_wav(path)
        start, end = speech_bounds(clip)
        if end <= start:
            raise PqkError(f"{path}: silent clip, cannot place it in a stream")
        placements.append(_Placement(clip, (start + end) // 2, word))
    order_in_stream = rng.permutation(len(placements))  # unknown words interleave with keywords
    return [placements[i] for i in order_in_stream]


def make_stream(corpus_dir: str | Path, seconds: float = 60.0, n_keywords: int = 20, seed: int = 0,
                snr_db: float | None = 20.0, min_gap_s: float = 1.5, split: str = "test",
                noise: str | None = None, n_unknown: int = 0,
                words: Sequence[str] = KWS_WORDS) -> tuple[np.ndarray, list[KeywordTruth]]:
    """Stream int16 [seconds * 16000] and its keyword truth, sorted by time.

    ``noise`` names a ``_background_noise_`` file (stem, e.g. ``"babble"``); ``None`` draws one.
    ``snr_db=None`` leaves the stream clean. ``n_unknown`` non-keywords are placed like keywords
    (same spacing) but are not in the truth: any detection near them is a false alarm.
    """
    if split not in SPLITS:
        raise PqkError(f"stream: unknown split {split!r}, expected one of {', '.join(SPLITS)}")
    if n_keywords < 0 or n_unknown < 0 or seconds <= 0 or min_gap_s <= 0:
        raise PqkError("stream: seconds and min_gap_s must be positive, word counts not negative")
    rng = np.random.default_rng([seed, 4_000_037])
    dataset = SpeechCommands(corpus_dir, words=words)
    placements = _pick(rng, dataset, split, words, n_keywords, n_unknown)
    total = int(round(seconds * SAMPLE_RATE))
    audio = np.zeros(total, np.float64)
    truth = []
    for placement, center_s in zip(placements, _centers(rng, len(placements), seconds, min_gap_s)):
        start = int(round(center_s * SAMPLE_RATE)) - placement.center
        lo, hi = max(start, 0), min(start + len(placement.clip), total)
        audio[lo:hi] += placement.clip[lo - start : hi - start]
        if placement.word != UNKNOWN_LABEL:
            truth.append(KeywordTruth(round((start + placement.center) / SAMPLE_RATE, 4), placement.word))

    if snr_db is not None:
        backgrounds = load_background_noise(dataset.root)
        if not backgrounds:
            raise PqkError(f"stream: no {BACKGROUND_NOISE_DIR}/*.wav in {dataset.root} to mix at {snr_db} dB")
        if noise is not None and noise not in backgrounds:
            raise PqkError(f"stream: no background noise {noise!r}; available: {', '.join(backgrounds)}")
        chosen = [backgrounds[noise]] if noise is not None else list(backgrounds.values())
        background = noise_slice(chosen, rng, total).astype(np.float64)
        speech_power = np.mean([active_power(p.clip) for p in placements]) if placements else 0.0
        noise_power = float(np.mean(background**2))
        if speech_power > 0 and noise_power > 0:
            audio += background * np.sqrt(speech_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    peak = np.abs(audio).max()
    if peak > PEAK:
        audio *= PEAK / peak
    return to_int16(audio), sorted(truth)


def write_stream(wav_path: str | Path, audio: np.ndarray, truth: Sequence[KeywordTruth]) -> Path:
    """Write the stream WAV and ``<name>.truth.json`` next to it (both atomically); returns the JSON path."""
    wav_path = Path(wav_path)
    write_wav(wav_path, audio)
    truth_path = wav_path.with_suffix(".truth.json")
    record = {"wav": wav_path.name, "sample_rate": SAMPLE_RATE, "seconds": len(audio) / SAMPLE_RATE,
              "keywords": [{"time_s": t.time_s, "word": t.word} for t in truth]}
    write_text_atomic(truth_path, json.dumps(record, indent=1) + "\n")
    return truth_path


def read_truth(truth_path: str | Path) -> list[KeywordTruth]:
    """The keyword truth written by ``write_stream``."""
    try:
        record = json.loads(Path(truth_path).read_text())
        return [KeywordTruth(float(k["time_s"]), str(k["word"])) for k in record["keywords"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PqkError(f"{truth_path}: not a stream truth file ({error.__class__.__name__}: {error})") from None
