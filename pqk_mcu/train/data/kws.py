"""Keyword-spotting task: Speech Commands clips -> 49x10 MFCC features of ``pqk_mcu.audio``.

``load_kws`` returns fixed feature arrays (cached next to the data): validation and test clean, the
training split as ``augment_copies`` augmented passes. ``KwsTrainingSet`` is the same augmentation
drawn afresh every epoch, as a torch ``Dataset`` with a ``features`` hook, for longer training runs.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from pqk_mcu.atomic import atomic_file
from pqk_mcu.audio import mfcc as mfcc_module
from pqk_mcu.audio.mfcc import FEATURE_SHAPE, mfcc, mfcc_batch
from pqk_mcu.errors import PqkError
from pqk_mcu.train.data import augment as augment_module
from pqk_mcu.train.data import speech_commands as speech_commands_module
from pqk_mcu.train.data.augment import AugmentConfig, augment_speech, spec_augment
from pqk_mcu.audio.speech_commands_layout import BACKGROUND_NOISE_DIR
from pqk_mcu.train.data.speech_commands import SPLITS, SpeechCommands, training_clip
from pqk_mcu.train.data.taskdata import TaskData

CACHE_DIR = ".pqk_features"
KWS_INPUT_SHAPE = (*FEATURE_SHAPE, 1)
_BATCH = 256


def augmented_clip(clip: np.ndarray, is_silence: bool, rng: np.random.Generator,
                   backgrounds: Sequence[np.ndarray], augment: AugmentConfig | None) -> np.ndarray:
    """One training draw: the ``augment`` chain on speech, then TensorFlow's shift and background mix."""
    if augment is not None and not is_silence:
        clip = augment_speech(clip, rng, augment, backgrounds)
    return training_clip(clip, is_silence, rng, backgrounds)


def clip_features(clips: np.ndarray, progress: bool = False, desc: str = "mfcc",
                  prepare: Callable[[int], np.ndarray] | None = None) -> np.ndarray:
    """MFCC (N, 49, 10, 1) float32 of clips [N, 16000], in batches.

    ``prepare(row)``, when given, supplies each row's clip instead (augmented draws are made batch by
    batch, so a large training set never exists twice in memory).
    """
    out = np.zeros((len(clips), *KWS_INPUT_SHAPE), np.float32)
    for start in tqdm(range(0, len(clips), _BATCH), desc=desc, unit="batch", disable=not progress, leave=False):
        rows = range(start, min(start + _BATCH, len(clips)))
        batch = clips[start : rows.stop] if prepare is None else [prepare(row) for row in rows]
        out[start : rows.stop, ..., 0] = mfcc_batch(batch)
    return out


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    if not path.exists():
        return None
    try:
        with np.load(path) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, ValueError, zipfile.BadZipFile):  # damaged cache: compute again and replace it
        return None


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    try:
        with atomic_file(path) as tmp:
            with tmp.open("wb") as handle:
                np.savez(handle, **arrays)
    except OSError as error:  # a read-only data folder still trains, just without the cache
        warnings.warn(f"could not cache KWS features in {path.parent}: {error}", stacklevel=2)


def _cache_key(dataset: SpeechCommands, settings: dict) -> str:
    """Digest of every input of the features: files (name, size, mtime), settings and the code computing them."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for module in (mfcc_module, augment_module, speech_commands_module):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    tracked = [p for refs in dataset.splits.values() for p in (ref.path for ref in refs) if p is not None]
    tracked += sorted((dataset.root / BACKGROUND_NOISE_DIR).glob("*.wav"))
    for path in tracked:
        stat = path.stat()
        digest.update(f"{path.relative_to(dataset.root)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def _compute(dataset: SpeechCommands, seed: int, augment_copies: int, augment: AugmentConfig | None,
             progress: bool) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for split in SPLITS:
        clips, labels = dataset.load_split(split, progress=progress)
        if split != "train":
            arrays[f"x_{split}"], arrays[f"y_{split}"] = clip_features(clips, progress, f"mfcc {split}"), labels
            continue
        features = []
        for copy in range(augment_copies):
            rng = np.random.default_rng([seed, copy])

            def draw(row: int) -> np.ndarray:
                return augmented_clip(clips[row], labels[row] == dataset.silence_label, rng, dataset.backgrounds,
                                      augment)

            copy_features = clip_features(clips, progress, f"mfcc train {copy + 1}/{augment_copies}", draw)
            if augment is not None:
                copy_features = np.stack([spec_augment(f, rng, augment) for f in copy_features])
            features.append(copy_features)
        arrays["x_train"] = np.concatenate(features)
        arrays["y_train"] = np.tile(labels, augment_copies)
    return arrays


def load_kws(data_dir: str | Path, *, seed: int = 0, augment_copies: int = 2,
             augment: AugmentConfig | None = AugmentConfig(), test_split: str = "clean", cache: bool = True,
             progress: bool = True) -> TaskData:
    """The 12-class KWS task of a Speech Commands folder as MFCC arrays (see the package docstring).

    ``augment=None`` keeps only TensorFlow's standard training mix (shift and background noise), the
    setting for the real Speech Commands recordings; the default adds the chain for synthetic voices.
    ``test_split="noisy"``: the test examples from the noisy test split of ``pqk-mcu data synth-kws``.
    """
    if augment_copies < 1:
        raise PqkError(f"augment_copies must be at least 1, got {augment_copies}")
    dataset = SpeechCommands(data_dir, test_split=test_split)
    settings = {"seed": seed, "augment_copies": augment_copies, "classes": dataset.class_names,
                "augment": None if augment is None else asdict(augment), "test_split": test_split}
    cache_path = dataset.root / CACHE_DIR / f"kws-{_cache_key(dataset, settings)}.npz"
    arrays = _read_cache(cache_path) if cache else None
    if arrays is None:
        arrays = _compute(dataset, seed, augment_copies, augment, progress)
        if cache:
            _write_cache(cache_path, arrays)
    extra_tests = {}
    if test_split == "clean" and dataset.has_noisy_test:
        extra_tests["noisy"] = _noisy_test(data_dir, dataset, cache, progress)
    return TaskData("kws", train=(arrays["x_train"], arrays["y_train"]), val=(arrays["x_val"], arrays["y_val"]),
                    test=(arrays["x_test"], arrays["y_test"]), class_names=dataset.class_names,
                    input_shape=KWS_INPUT_SHAPE, extra_tests=extra_tests)


def _noisy_test(data_dir: str | Path, clean: SpeechCommands, cache: bool, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """Features of the noisy test split (its own cache entry: it depends on no training setting)."""
    dataset = SpeechCommands(data_dir, test_split="noisy")
    cache_path = dataset.root / CACHE_DIR / f"kws-noisy-test-{_cache_key(dataset, {'classes': clean.class_names})}.npz"
    arrays = _read_cache(cache_path) if cache else None
    if arrays is None:
        clips, labels = dataset.load_split("test", progress=progress)
        arrays = {"x": clip_features(clips, progress, "mfcc noisy test"), "y": labels}
        if cache:
            _write_cache(cache_path, arrays)
    return arrays["x"], arrays["y"]


class KwsTrainingSet(torch.utils.data.Dataset):
    """Training clips augmented afresh for each (epoch, index): ``(features float32 (49, 10, 1), label)``.

    ``features`` maps one float32 clip to a (49, 10) array (default: ``pqk_mcu.audio.mfcc``). Call
    ``set_epoch`` each epoch (as with ``DistributedSampler``) for new draws; results depend only on
    ``(seed, epoch, index)``, so worker count and process rank do not change them.
    """

    def __init__(self, dataset: SpeechCommands, *, seed: int = 0, augment: AugmentConfig | None = AugmentConfig(),
                 features: Callable[[np.ndarray], np.ndarray] = mfcc, progress: bool = False) -> None:
        self.clips, self.labels = dataset.load_split("train", progress=progress)
        self.silence_label = dataset.silence_label
        self.backgrounds = dataset.backgrounds
        self.seed, self.augment, self.features = seed, augment, features
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        label = int(self.labels[index])
        clip = augmented_clip(self.clips[index], label == self.silence_label, rng, self.backgrounds, self.augment)
        features = np.asarray(self.features(clip), np.float32)
        if self.augment is not None:
            features = spec_augment(features, rng, self.augment)
        return torch.from_numpy(features[..., None]), label
