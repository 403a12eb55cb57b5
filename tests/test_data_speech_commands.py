"""Speech Commands loader on the tiny fixture in the real layout (tests/fixtures/speech_commands)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from pqk_mcu.errors import PqkError
from pqk_mcu.train.data import KWS_CLASSES, load_task
from pqk_mcu.audio.speech_commands_layout import SILENCE_LABEL, UNKNOWN_LABEL
from pqk_mcu.train.data.speech_commands import (
    SpeechCommands,
    fit_clip,
    hash_split,
    load_background_noise,
    speaker_id,
    training_clip,
)
from pqk_mcu.train.data.wav import read_wav

FIXTURE = Path(__file__).parent / "fixtures" / "speech_commands"
WORDS = ("down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A writable copy of the fixture (tests that break files or cache features)."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "speech_commands"))


def _paths(dataset: SpeechCommands, split: str) -> list[str]:
    return [f"{ref.path.parent.name}/{ref.path.name}" for ref in dataset.splits[split] if ref.path is not None]


def test_classes_follow_mlperf_tiny_order():
    dataset = SpeechCommands(FIXTURE)
    assert dataset.class_names == KWS_CLASSES == WORDS + (SILENCE_LABEL, UNKNOWN_LABEL)


def test_split_membership_follows_the_lists():
    dataset = SpeechCommands(FIXTURE)
    validation = set((FIXTURE / "validation_list.txt").read_text().split())
    testing = set((FIXTURE / "testing_list.txt").read_text().split())
    for split, listed in (("val", validation), ("test", testing)):
        chosen = set(_paths(dataset, split))
        assert chosen <= listed  # unknown words: a sample of the listed ones
        assert {p for p in chosen if p.split("/")[0] in WORDS} == {p for p in listed if p.split("/")[0] in WORDS}
    assert not set(_paths(dataset, "train")) & (validation | testing)
    # Train speakers are the ones in neither list.
    assert {speaker_id(p) for p in _paths(dataset, "train")} == {"0a2b4c6d", "1b3c5d7e"}


def test_silence_and_unknown_are_ten_percent_of_the_words_as_in_tensorflow():
    dataset = SpeechCommands(FIXTURE)
    for split, words in (("train", 20), ("val", 10), ("test", 10)):
        labels = [ref.label for ref in dataset.splits[split]]
        assert labels.count(dataset.silence_label) == math.ceil(words * 0.1)
        unknown = [ref for ref in dataset.splits[split] if ref.label == KWS_CLASSES.index(UNKNOWN_LABEL)]
        assert len(unknown) == math.ceil(words * 0.1)
        assert all(ref.path.parent.name in ("bed", "cat") for ref in unknown)
        assert len(labels) == words + 2 * math.ceil(words * 0.1)
    # A larger percentage takes more of the unknown pool (4 training clips of bed/cat), never more than it has.
    generous = SpeechCommands(FIXTURE, silence_percentage=50, unknown_percentage=50)
    train = [ref.label for ref in generous.splits["train"]]
    assert train.count(generous.silence_label) == 10
    assert train.count(KWS_CLASSES.index(UNKNOWN_LABEL)) == 4


def test_index_is_deterministic_for_a_seed_and_shuffled():
    first, second = SpeechCommands(FIXTURE), SpeechCommands(FIXTURE)
    assert first.splits == second.splits
    assert SpeechCommands(FIXTURE, seed=1).splits["train"] != first.splits["train"]


def test_load_split_pads_clips_to_one_second_and_fills_evaluation_silence_with_noise():
    dataset = SpeechCommands(FIXTURE)
    clips, labels = dataset.load_split("test")
    assert clips.shape == (12, 16000) and clips.dtype == np.float32 and labels.dtype == np.int64
    words = labels < 10
    assert np.all(clips[words, 960:] == 0) and np.all(np.abs(clips[words, :960]).max(axis=1) > 0.1)
    silence = clips[labels == dataset.silence_label]
    assert len(silence) == 1 and np.count_nonzero(silence) > 15000
    train_clips, train_labels = dataset.load_split("train")
    assert not train_clips[train_labels == dataset.silence_label].any()  # mixed per draw by training_clip
    # Evaluation silence is seeded: the same every time.
    assert np.array_equal(dataset.load_split("test")[0], clips)


def test_training_clip_shifts_within_100_ms_and_mixes_background():
    noises = load_background_noise(FIXTURE)
    assert {name: len(noise) for name, noise in noises.items()} == {"short_noise": 8000, "white_noise": 16000}
    backgrounds = list(noises.values())
    clip = np.roll(fit_clip(read_wav(FIXTURE / "yes" / "0a2b4c6d_nohash_0.wav")), 8000)  # word mid-clip
    onsets = set()
    for seed in range(40):
        rng = np.random.default_rng(seed)
        quiet = training_clip(clip, False, rng, (), time_shift_samples=1600)
        onsets.add(int(np.flatnonzero(quiet)[0]) - int(np.flatnonzero(clip)[0]))
    assert min(onsets) >= -1600 - 1 and max(onsets) <= 1600 + 1 and len(onsets) > 20
    noisy = [training_clip(clip, False, np.random.default_rng(s), backgrounds, time_shift_samples=0) - clip
             for s in range(50)]
    with_noise = [n for n in noisy if np.count_nonzero(n)]
    assert 25 <= len(with_noise) <= 50  # background_frequency 0.8
    assert max(np.abs(n).max() for n in with_noise) <= 0.1 * 1.0 + 1e-6  # volume <= 0.1 of a noise in [-1, 1]
    silence = training_clip(clip, True, np.random.default_rng(3), backgrounds)
    assert np.count_nonzero(silence) > 8000 and np.abs(silence).max() <= 1.0


def test_hash_split_matches_tensorflow_which_set_without_lists(corpus: Path):
    (corpus / "validation_list.txt").unlink()
    (corpus / "testing_list.txt").unlink()
    dataset = SpeechCommands(corpus)
    for split in ("train", "val", "test"):
        assert all(hash_split(ref.path) == split for ref in dataset.splits[split] if ref.path is not None)
    # TensorFlow's which_set keeps a speaker's clips together and ignores the _nohash_ suffix.
    assert hash_split("yes/abc_nohash_0.wav") == hash_split("no/abc_nohash_3.wav")


@pytest.mark.parametrize("case", ["empty", "only_noise", "missing_folder"])
def test_folder_without_classes_is_a_clean_error(tmp_path: Path, case: str):
    root = tmp_path / "data"
    if case != "missing_folder":
        root.mkdir()
    if case == "only_noise":
        shutil.copytree(FIXTURE / "_background_noise_", root / "_background_noise_")
    with pytest.raises(PqkError, match="no word folders|is not a folder"):
        SpeechCommands(root)


def test_missing_keyword_and_half_split_lists_are_clean_errors(corpus: Path):
    (corpus / "testing_list.txt").unlink()
    with pytest.raises(PqkError, match="has validation_list.txt but no testing_list.txt"):
        SpeechCommands(corpus)
    with pytest.raises(PqkError, match="no training clips of marvin"):
        SpeechCommands(FIXTURE, words=("yes", "marvin"))


def test_corrupt_wav_names_the_file(corpus: Path):
    bad = corpus / "up" / "1b3c5d7e_nohash_0.wav"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    with pytest.raises(PqkError, match=r"up/1b3c5d7e_nohash_0\.wav: unreadable or corrupt WAV"):
        SpeechCommands(corpus).load_split("train")


def test_wrong_sample_rate_and_channels_name_the_file(corpus: Path):
    path = corpus / "go" / "0a2b4c6d_nohash_0.wav"
    wavfile.write(path, 8000, np.zeros(800, np.int16))
    with pytest.raises(PqkError, match=r"go/0a2b4c6d_nohash_0\.wav: sample rate 8000 Hz, expected 16000 Hz"):
        SpeechCommands(corpus).load_split("train")
    wavfile.write(path, 16000, np.zeros((800, 2), np.int16))
    with pytest.raises(PqkError, match="2 channels, expected mono"):
        read_wav(path)


def test_kws_task_features_and_cache(corpus: Path):
    data = load_task("kws", corpus, augment_copies=2, progress=False)
    assert data.class_names == KWS_CLASSES and data.input_shape == (49, 10, 1)
    x_train, y_train = data.train
    assert x_train.shape == (2 * 24, 49, 10, 1) and x_train.dtype == np.float32
    assert np.array_equal(y_train[:24], y_train[24:])
    assert not np.array_equal(x_train[:24], x_train[24:])  # two different augmentation draws
    assert data.val[0].shape == (12, 49, 10, 1) and data.test[1].shape == (12,)
    cached = list((corpus / ".pqk_features").glob("kws-*.npz"))
    assert len(cached) == 1
    again = load_task("kws", corpus, augment_copies=2, progress=False)
    assert np.array_equal(again.train[0], x_train)
    # Any change of the data makes a new cache entry rather than reusing stale features.
    wavfile.write(corpus / "yes" / "0a2b4c6d_nohash_0.wav", 16000, np.zeros(960, np.int16))
    load_task("kws", corpus, augment_copies=2, augment=None, progress=False)
    assert len(list((corpus / ".pqk_features").glob("kws-*.npz"))) == 2


def test_kws_needs_a_folder_and_unknown_task_is_clean():
    with pytest.raises(PqkError, match="needs a data folder"):
        load_task("kws")
    with pytest.raises(PqkError, match="unknown task 'speech'"):
        load_task("speech")


def test_kws_training_set_draws_per_epoch():
    from pqk_mcu.train.data.kws import KwsTrainingSet

    dataset = KwsTrainingSet(SpeechCommands(FIXTURE), seed=0)
    features, label = dataset[0]
    assert tuple(features.shape) == (49, 10, 1) and 0 <= label < 12
    assert np.array_equal(dataset[0][0].numpy(), features.numpy())
    dataset.set_epoch(1)
    assert not np.array_equal(dataset[0][0].numpy(), features.numpy())


def test_run_data_follows_the_configured_augmentation(corpus: Path):
    from pqk_mcu.train.run import load_run_data
    from pqk_mcu.train.trainer import TrainConfig

    standard = load_run_data(TrainConfig(task="kws", model="ds-cnn", augment="standard"), corpus, progress=False)
    voices = load_run_data(TrainConfig(task="kws", model="ds-cnn"), corpus, progress=False)
    plain = load_task("kws", corpus, augment=None, progress=False)
    assert np.array_equal(standard.train[0], plain.train[0])  # TensorFlow's mix alone
    assert not np.array_equal(voices.train[0], standard.train[0])
    assert np.array_equal(voices.test[0], standard.test[0])  # evaluation data never augmented
