"""Google Speech Commands (v1/v2) in its folder layout, with TensorFlow's sampling and training mix.

Layout (the real archives, and the corpus of ``pqk-mcu data synth-kws``)::

    <data_dir>/<word>/<speaker>_nohash_<n>.wav     16 kHz mono clips of about 1 s
    <data_dir>/validation_list.txt                 paths "<word>/<file>.wav", one a line
    <data_dir>/testing_list.txt
    <data_dir>/_background_noise_/*.wav            long noise recordings
    <data_dir>/testing_noisy_list.txt              optional (synth-kws): "_test_noisy_/<word>/<file>.wav",
    <data_dir>/_test_noisy_/<word>/*.wav           the test clips again, mixed with noise at 0-20 dB SNR

Classes follow the MLPerf Tiny KWS reference (``down go left no off on right stop up yes`` then
``_silence_`` and ``_unknown_``), so models trained by either pipeline share their output order.

Sampling follows TensorFlow's ``speech_commands/input_data.py``: every clip of a wanted word is used;
per split, ``_silence_`` examples are added to ``ceil(words * 10%)`` and ``_unknown_`` examples are the
first ``ceil(words * 10%)`` of the shuffled other words; then each split is shuffled (python ``random``
seeded 59185, the same operation sequence). Clips not named in either list are training clips; a folder
with neither list is split by TensorFlow's hash of the speaker id (10% / 10%).

Training examples are mixed as TensorFlow does (``training_clip``): +-100 ms time shift, and background
noise with probability 0.8 at a volume drawn from [0, 0.1]; silence is noise alone at a volume from [0, 1].
TensorFlow leaves evaluation silence at digital zero; here validation and test silence is a seeded
background slice at a volume from [0, 1] (as the tfds / MLPerf Tiny sets cut it from the noise files),
so evaluation measures rejecting noise rather than rejecting zeros. ``test_split="noisy"`` evaluates on
the noisy copies of the same test examples (the harder test split of ``pqk-mcu data synth-kws``).
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from pqk_mcu.audio.speech_commands_layout import (
    BACKGROUND_NOISE_DIR,
    CLIP_SAMPLES,
    KWS_CLASSES,
    KWS_WORDS,
    NOISY_TESTING_LIST,
    NOISY_TEST_DIR,
    SAMPLE_RATE,
    SILENCE_LABEL,
    TESTING_LIST,
    UNKNOWN_LABEL,
    VALIDATION_LIST,
)
from pqk_mcu.errors import PqkError
from pqk_mcu.train.data.augment import noise_slice, random_time_shift
from pqk_mcu.train.data.wav import read_wav

TEST_SPLITS = ("clean", "noisy")
SPLITS = ("train", "val", "test")
RANDOM_SEED = 59185  # TensorFlow's input_data.py seed
_MAX_NUM_WAVS_PER_CLASS = 2**27 - 1  # TensorFlow's which_set constant


@dataclass(frozen=True)
class ClipRef:
    """One example of a split: a WAV file (``None`` for silence) and its class index."""

    path: Path | None
    label: int


def speaker_id(path: str | Path) -> str:
    """The speaker part of ``<speaker>_nohash_<n>.wav``."""
    return re.sub(r"_nohash_.*$", "", Path(path).name)


def hash_split(path: str | Path, validation_percentage: float = 10.0, testing_percentage: float = 10.0) -> str:
    """TensorFlow's ``which_set``: a stable split from the SHA-1 of the speaker id."""
    digest = int(hashlib.sha1(speaker_id(path).encode()).hexdigest(), 16)
    percentage = (digest % (_MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / _MAX_NUM_WAVS_PER_CLASS)
    if percentage < validation_percentage:
        return "val"
    if percentage < validation_percentage + testing_percentage:
        return "test"
    return "train"


def fit_clip(samples: np.ndarray, length: int = CLIP_SAMPLES) -> np.ndarray:
    """Zero-pad at the end or truncate to ``length`` samples (TensorFlow's decode_wav desired_samples)."""
    out = np.zeros(length, np.float32)
    out[: min(length, len(samples))] = samples[:length]
    return out


def _read_list(root: Path, name: str) -> set[str] | None:
    path = root / name
    if not path.exists():
        return None
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise PqkError(f"{path}: unreadable split list ({error.__class__.__name__})") from None
    return {line.strip().replace("\\", "/") for line in lines if line.strip()}


def load_background_noise(data_dir: str | Path) -> dict[str, np.ndarray]:
    """``_background_noise_/*.wav`` (16 kHz mono) as float32 by file stem, sorted; empty when absent."""
    folder = Path(data_dir) / BACKGROUND_NOISE_DIR
    noises = {}
    for path in sorted(folder.glob("*.wav")) if folder.is_dir() else []:
        noise = read_wav(path)
        if len(noise) == 0:
            raise PqkError(f"{path}: background noise file without samples")
        noises[path.stem] = noise
    return noises


def training_clip(clip: np.ndarray, is_silence: bool, rng: np.random.Generator,
                  backgrounds: Sequence[np.ndarray], background_volume: float = 0.1,
                  background_frequency: float = 0.8, time_shift_samples: int = SAMPLE_RATE // 10) -> np.ndarray:
    """TensorFlow's training mix of one clip: time shift, then background noise, clipped to [-1, 1]."""
    foreground = np.zeros_like(clip) if is_silence else random_time_shift(clip, rng, time_shift_samples)
    if not backgrounds:
        return foreground
    noise = noise_slice(backgrounds, rng, len(clip))
    if is_silence:
        volume = rng.uniform(0.0, 1.0)
    elif rng.uniform() < background_frequency:
        volume = rng.uniform(0.0, background_volume)
    else:
        volume = 0.0
    return np.clip(foreground + np.float32(volume) * noise, -1.0, 1.0).astype(np.float32)


class SpeechCommands:
    """Index of a Speech Commands folder: ``splits[name]`` lists the ``ClipRef`` of ``train``/``val``/``test``.

    ``test_split="noisy"`` makes ``test`` the same examples read from ``_test_noisy_`` instead.
    """

    def __init__(self, data_dir: str | Path, words: Sequence[str] = KWS_WORDS, silence_percentage: float = 10.0,
                 unknown_percentage: float = 10.0, seed: int = RANDOM_SEED, test_split: str = "clean") -> None:
        self.root = Path(data_dir)
        if not self.root.is_dir():
            raise PqkError(f"speech commands: {self.root} is not a folder")
        if test_split not in TEST_SPLITS:
            raise PqkError(f"speech commands: test split must be one of {', '.join(TEST_SPLITS)}, got {test_split!r}")
        self.words = tuple(w.lower() for w in words)
        self.class_names = self.words + (SILENCE_LABEL, UNKNOWN_LABEL)
        self.seed = seed
        self.splits = self._index(silence_percentage, unknown_percentage)
        if test_split == "noisy":
            self.splits["test"] = self._noisy(self.splits["test"])
        self._backgrounds: list[np.ndarray] | None = None

    @property
    def has_noisy_test(self) -> bool:
        """Whether the folder holds the noisy test split of ``pqk-mcu data synth-kws``."""
        return (self.root / NOISY_TESTING_LIST).is_file()

    def _noisy(self, refs: list[ClipRef]) -> list[ClipRef]:
        """``refs`` with each clip replaced by its copy in ``_test_noisy_`` (listed in ``testing_noisy_list.txt``)."""
        listed = _read_list(self.root, NOISY_TESTING_LIST)
        if listed is None:
            raise PqkError(f"speech commands: {self.root} has no {NOISY_TESTING_LIST} "
                           "(the noisy test split of `pqk-mcu data synth-kws`)")
        noisy = []
        for ref in refs:
            if ref.path is not None:
                relative = f"{NOISY_TEST_DIR}/{ref.path.parent.name}/{ref.path.name}"
                if relative not in listed or not (self.root / relative).is_file():
                    raise PqkError(f"speech commands: {self.root / relative} missing from the noisy test split")
                ref = ClipRef(self.root / relative, ref.label)
            noisy.append(ref)
        return noisy

    def _index(self, silence_percentage: float, unknown_percentage: float) -> dict[str, list[ClipRef]]:
        folders = sorted(p for p in self.root.iterdir() if p.is_dir()
                         and p.name not in (BACKGROUND_NOISE_DIR, NOISY_TEST_DIR) and not p.name.startswith("."))
        files = [(folder.name.lower(), wav) for folder in folders for wav in sorted(folder.glob("*.wav"))]
        if not files:
            raise PqkError(f"speech commands: no word folders with .wav files in {self.root}")
        validation, testing = _read_list(self.root, VALIDATION_LIST), _read_list(self.root, TESTING_LIST)
        if (validation is None) != (testing is None):
            present, missing = (VALIDATION_LIST, TESTING_LIST) if testing is None else (TESTING_LIST, VALIDATION_LIST)
            raise PqkError(f"speech commands: {self.root} has {present} but no {missing}")

        word_index = {w: i for i, w in enumerate(self.words)}
        unknown_label = self.class_names.index(UNKNOWN_LABEL)
        known: dict[str, list[ClipRef]] = {s: [] for s in SPLITS}
        unknown: dict[str, list[ClipRef]] = {s: [] for s in SPLITS}
        for word, wav in files:
            if validation is None:
                split = hash_split(wav)
            else:
                relative = f"{wav.parent.name}/{wav.name}"
                split = "val" if relative in validation else "test" if relative in testing else "train"
            if word in word_index:
                known[split].append(ClipRef(wav, word_index[word]))
            else:
                unknown[split].append(ClipRef(wav, unknown_label))
        missing = [w for w in self.words if not any(ref.label == word_index[w] for ref in known["train"])]
        if missing:
            raise PqkError(f"speech commands: no training clips of {', '.join(missing)} in {self.root}")

        shuffler = random.Random(self.seed)
        silence_label = self.class_names.index(SILENCE_LABEL)
        for split in ("val", "test", "train"):  # TensorFlow's order of random draws
            size = len(known[split])
            known[split].extend([ClipRef(None, silence_label)] * math.ceil(size * silence_percentage / 100))
            shuffler.shuffle(unknown[split])
            known[split].extend(unknown[split][: math.ceil(size * unknown_percentage / 100)])
        for split in ("val", "test", "train"):
            shuffler.shuffle(known[split])
        return known

    @property
    def backgrounds(self) -> list[np.ndarray]:
        """The ``_background_noise_`` recordings (read once)."""
        if self._backgrounds is None:
            self._backgrounds = list(load_background_noise(self.root).values())
        return self._backgrounds

    @property
    def silence_label(self) -> int:
        return self.class_names.index(SILENCE_LABEL)

    def load_split(self, split: str, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Clips float32 [N, 16000] and labels int64 [N] of one split.

        Training silence is zeros (``training_clip`` mixes its noise per epoch); validation and test
        silence is a seeded background slice at a volume from [0, 1] (zeros without background files).
        """
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}, expected one of {SPLITS}")
        refs = self.splits[split]
        clips = np.zeros((len(refs), CLIP_SAMPLES), np.float32)
        rng = np.random.default_rng([self.seed, SPLITS.index(split)])
        for row, ref in enumerate(tqdm(refs, desc=f"read {split}", unit="clip", disable=not progress, leave=False)):
            if ref.path is not None:
                clips[row] = fit_clip(read_wav(ref.path))
            elif split != "train" and self.backgrounds:
                clips[row] = np.float32(rng.uniform(0.0, 1.0)) * noise_slice(self.backgrounds, rng, CLIP_SAMPLES)
        labels = np.array([ref.label for ref in refs], dtype=np.int64)
        return clips, labels
