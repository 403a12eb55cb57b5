"""The espeak-ng keyword corpus: layout, clip format, speaker-disjoint splits, determinism, errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from conftest import require_tools
from pqk_mcu.cli import main
from pqk_mcu.errors import PqkError, ToolMissingError
from pqk_mcu.train.data import synth_kws
from pqk_mcu.train.data.speech_commands import KWS_WORDS, SpeechCommands, speaker_id
from pqk_mcu.train.data.synth_kws import VOICES, corpus_matches, plan_speakers, synthesize_corpus

TINY = {"variants": 2, "voices": ("en-us", "en-gb-scotland"), "seed": 5, "progress": False}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tools("espeak-ng")
    out = tmp_path_factory.mktemp("synth") / "corpus"
    summary = synthesize_corpus(out, **TINY)
    assert summary.clips == 4 * (10 + 5) and summary.speakers == {"train": 2, "val": 1, "test": 1}
    return out


def test_layout_and_clip_format(corpus: Path):
    manifest = json.loads((corpus / "corpus.json").read_text())
    names = {s["name"] for s in manifest["speakers"]}
    assert names == {"en-us-v000", "en-us-v001", "en-gb-scotland-v000", "en-gb-scotland-v001"}
    for word in KWS_WORDS:
        assert sorted(speaker_id(p) for p in (corpus / word).glob("*.wav")) == sorted(names)
    unknown = [p for p in corpus.glob("*/*.wav") if p.parent.name not in KWS_WORDS + ("_background_noise_",)]
    assert len(unknown) == 4 * 5 and {p.parent.name for p in unknown} <= set(synth_kws.UNKNOWN_WORDS)
    levels = {s["name"]: s["level_db"] for s in manifest["speakers"]}
    for path in sorted(corpus.glob("*/*_nohash_0.wav")):
        rate, samples = wavfile.read(path)
        assert rate == 16000 and samples.dtype == np.int16 and samples.shape == (16000,)
        peak_db = 20 * np.log10(np.abs(samples).max() / 32768)
        assert peak_db == pytest.approx(levels[speaker_id(path)], abs=0.01)
    noises = sorted(p.stem for p in (corpus / "_background_noise_").glob("*.wav"))
    assert noises == ["babble", "brown_noise", "clatter", "mains_hum", "pink_noise", "white_noise"]
    rate, hum = wavfile.read(corpus / "_background_noise_" / "mains_hum.wav")
    assert rate == 16000 and len(hum) == 60 * 16000
    spectrum = np.abs(np.fft.rfft(hum[:16000].astype(np.float64)))
    assert np.fft.rfftfreq(16000, 1 / 16000)[spectrum.argmax()] == 50.0


def test_splits_are_speaker_disjoint_and_loadable(corpus: Path):
    manifest = json.loads((corpus / "corpus.json").read_text())
    split_of = {s["name"]: s["split"] for s in manifest["speakers"]}
    listed = {name: set((corpus / name).read_text().split()) for name in ("validation_list.txt", "testing_list.txt")}
    for list_name, split in (("validation_list.txt", "val"), ("testing_list.txt", "test")):
        assert listed[list_name] and all((corpus / p).is_file() for p in listed[list_name])
        assert {split_of[speaker_id(p)] for p in listed[list_name]} == {split}
        # Every clip of a held-out speaker is listed: no (voice, variant) pair straddles two splits.
        held = {p.relative_to(corpus).as_posix() for p in corpus.glob("*/*.wav") if split_of.get(speaker_id(p)) == split}
        assert held == listed[list_name]
    dataset = SpeechCommands(corpus)
    speakers = {s: {speaker_id(r.path) for r in dataset.splits[s] if r.path} for s in ("train", "val", "test")}
    assert not (speakers["train"] & speakers["val"] or speakers["train"] & speakers["test"]
                or speakers["val"] & speakers["test"])
    clips, labels = dataset.load_split("test")
    assert clips.shape[1] == 16000 and len(labels) == 10 + 1 + 1


def test_same_seed_same_bytes(corpus: Path, tmp_path: Path):
    again = tmp_path / "again"
    synthesize_corpus(again, **TINY)
    files = sorted(p.relative_to(corpus) for p in corpus.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert all((corpus / f).read_bytes() == (again / f).read_bytes() for f in files)


def test_corpus_matches_only_its_own_settings(corpus: Path, tmp_path: Path):
    settings = {key: TINY[key] for key in ("variants", "voices", "seed")}
    assert corpus_matches(corpus, **settings)
    assert not corpus_matches(corpus, **{**settings, "variants": 3})
    assert not corpus_matches(corpus, **{**settings, "seed": 6})
    assert not corpus_matches(tmp_path / "missing", **settings)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "testing_list.txt").write_text("")
    (tmp_path / "broken" / "corpus.json").write_text("{not json")
    assert not corpus_matches(tmp_path / "broken", **settings)


def test_default_plan_spreads_held_out_speakers_over_all_voices():
    speakers = plan_speakers(50, seed=0)
    assert Counter(s.split for s in speakers) == {"train": 320, "val": 40, "test": 40}
    for split in ("val", "test"):
        assert Counter(s.voice for s in speakers if s.split == split) == {voice: 5 for voice in VOICES}
    assert len({(s.voice, s.variant, s.pitch, s.speed, s.level_db) for s in speakers}) == 400
    # A larger corpus keeps the smaller one's speakers (settings, not necessarily splits).
    settings = {s.name: (s.variant, s.pitch, s.speed, s.level_db) for s in plan_speakers(60, seed=0)}
    assert all(settings[s.name] == (s.variant, s.pitch, s.speed, s.level_db) for s in speakers)
    assert plan_speakers(50, seed=1) != speakers


def test_bad_requests_are_clean_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]):
    with pytest.raises(PqkError, match="variants must be between 1 and 100"):
        plan_speakers(0, seed=0)
    with pytest.raises(PqkError, match="voices must be among"):
        plan_speakers(2, seed=0, voices=("fr",))
    with pytest.raises(PqkError, match="at least 3 speakers"):
        plan_speakers(1, seed=0, voices=("en-us", "en-gb"))
    monkeypatch.setattr(synth_kws.shutil, "which", lambda name: None)
    with pytest.raises(ToolMissingError, match="espeak-ng is not installed"):
        synthesize_corpus(tmp_path / "never", **TINY)
    with pytest.raises(SystemExit) as exit_:
        main(["data", "synth-kws", "--out", str(tmp_path / "never")])
    assert exit_.value.code == 2 and "error: espeak-ng is not installed" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_failed_synthesis_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(synth_kws, "require_espeak", lambda: "espeak-ng")
    monkeypatch.setattr(synth_kws, "espeak", lambda *args: np.zeros(16000, np.float32))
    with pytest.raises(PqkError, match="espeak-ng produced silence for en-us"):
        synthesize_corpus(tmp_path / "corpus", **TINY)
    assert not list(tmp_path.iterdir())


def test_cli_all_eight_voices(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    require_tools("espeak-ng")
    main(["data", "synth-kws", "--out", str(tmp_path / "kws"), "--variants", "1", "--seed", "3"])
    assert "120 clips from 8 speakers (train 6, val 1, test 1)" in capsys.readouterr().out
    voices = {json.loads((tmp_path / "kws" / "corpus.json").read_text())["speakers"][i]["voice"] for i in range(8)}
    assert voices == set(VOICES)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    manifest = (tmp_path / "kws" / "corpus.json").read_bytes()
    main(["data", "synth-kws", "--out", str(tmp_path / "kws"), "--variants", "1", "--seed", "3", "--reuse"])
    assert "already holds this corpus" in capsys.readouterr().out
    assert (tmp_path / "kws" / "corpus.json").read_bytes() == manifest


def test_stream_from_held_out_synthetic_voices(corpus: Path):
    from pqk_mcu.train.data.stream import make_stream

    audio, truth = make_stream(corpus, seconds=16, n_keywords=10, seed=0, snr_db=15.0, noise="babble")
    assert audio.shape == (16 * 16000,) and sorted(t.word for t in truth) == sorted(KWS_WORDS)
    assert np.all(np.diff([t.time_s for t in truth]) >= 1.5 - 1e-3)
