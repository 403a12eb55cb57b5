"""The keyword corpus: layout, clip format, speaker-disjoint splits, determinism, errors; the speech engines;
the noisy test split."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from conftest import require_tools
from pqk_mcu.cli import main
from pqk_mcu.errors import PqkError, ToolMissingError
from pqk_mcu.train.data import synth_kws, tts
from pqk_mcu.train.data.levels import active_power
from pqk_mcu.audio.speech_commands_layout import KWS_WORDS
from pqk_mcu.train.data.speech_commands import SpeechCommands, speaker_id
from pqk_mcu.train.data.synth_kws import (
    NOISY_TEST_SNR_DB, corpus_matches, corpus_voices, place_in_clip, plan_speakers, synthesize_corpus)
from pqk_mcu.train.data.wav import read_wav, to_int16

ESPEAK_VOICES = tuple(voice.key for voice in tts.ENGINES["espeak-ng"].voices)
TINY = {"variants": 2, "voices": ("en-us", "en-gb-scotland"), "seed": 5, "progress": False}
# Corpus v2 in small: one or two voices of each engine, one speaker each, one unknown word.
TINY_V2 = {"variants": 1, "voices": ("en-us", "flite-slt", "flite-kal", "festival-kal", "festival-slt-hts"),
           "seed": 7, "unknown_per_speaker": 1, "progress": False}


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
    espeak_voices = corpus_voices(("espeak-ng",))
    speakers = plan_speakers(50, seed=0, voices=espeak_voices)
    assert Counter(s.split for s in speakers) == {"train": 320, "val": 40, "test": 40}
    for split in ("val", "test"):
        assert Counter(s.voice for s in speakers if s.split == split) == {voice: 5 for voice in ESPEAK_VOICES}
    assert len({(s.voice, s.variant, s.pitch, s.speed, s.level_db) for s in speakers}) == 400
    # A larger corpus keeps the smaller one's speakers (settings, not necessarily splits).
    settings = {s.name: (s.variant, s.pitch, s.speed, s.level_db) for s in plan_speakers(60, 0, espeak_voices)}
    assert all(settings[s.name] == (s.variant, s.pitch, s.speed, s.level_db) for s in speakers)
    assert plan_speakers(50, seed=1, voices=espeak_voices) != speakers
    # Corpus v2 keeps corpus v1's espeak-ng speakers (settings) and spreads its held-out ones over every voice.
    v2 = plan_speakers(50, seed=0)
    assert Counter(s.split for s in v2) == {"train": 640, "val": 80, "test": 80}
    for split in ("val", "test"):
        assert Counter(s.voice for s in v2 if s.split == split) == {voice: 5 for voice in tts.VOICES}
    assert all(settings[s.name] == (s.variant, s.pitch, s.speed, s.level_db) for s in v2 if s.engine == "espeak-ng")
    assert {s.engine for s in v2} == set(tts.ENGINES)


def test_small_plans_hold_out_speakers_of_different_engines():
    for seed in range(20):
        speakers = plan_speakers(1, seed, corpus_voices(voices=TINY_V2["voices"]))
        held_out = [s.engine for s in speakers if s.split != "train"]
        assert len(held_out) == 2 and held_out[0] != held_out[1]


def test_bad_requests_are_clean_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]):
    with pytest.raises(PqkError, match="variants must be between 1 and 100"):
        plan_speakers(0, seed=0)
    with pytest.raises(PqkError, match="voices must be among"):
        corpus_voices(voices=("fr",))
    with pytest.raises(PqkError, match="voices must be among"):
        corpus_voices(("espeak-ng",), voices=("flite-slt",))
    with pytest.raises(PqkError, match="engines must be among espeak-ng, flite, festival; got say"):
        corpus_voices(("say",))
    with pytest.raises(PqkError, match="at least 3 speakers"):
        plan_speakers(1, seed=0, voices=corpus_voices(voices=("en-us", "en-gb")))
    with pytest.raises(SystemExit) as exit_:
        main(["data", "synth-kws", "--out", str(tmp_path / "never"), "--engines", "espeak-ng,say"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "error: engines must be among espeak-ng, flite, festival; got espeak-ng, say\n"
    monkeypatch.setattr(tts.shutil, "which", lambda name: None)
    with pytest.raises(ToolMissingError, match="espeak-ng is not installed"):
        synthesize_corpus(tmp_path / "never", **TINY)
    with pytest.raises(SystemExit) as exit_:
        main(["data", "synth-kws", "--out", str(tmp_path / "never")])
    assert exit_.value.code == 2 and "error: espeak-ng is not installed" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_failed_synthesis_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(synth_kws, "require_engine", lambda name: None)
    monkeypatch.setattr(synth_kws, "speak", lambda setting, texts: [np.zeros(16000, np.float32) for _ in texts])
    with pytest.raises(PqkError, match="espeak-ng produced silence for en-us"):
        synthesize_corpus(tmp_path / "corpus", **TINY)
    assert not list(tmp_path.iterdir())


def test_cli_all_eight_voices(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    require_tools("espeak-ng")
    command = ["data", "synth-kws", "--out", str(tmp_path / "kws"), "--variants", "1", "--seed", "3", "--engines",
               "espeak-ng"]
    main(command)
    assert "120 clips from 8 speakers (train 6, val 1, test 1)" in capsys.readouterr().out
    voices = {json.loads((tmp_path / "kws" / "corpus.json").read_text())["speakers"][i]["voice"] for i in range(8)}
    assert voices == set(ESPEAK_VOICES)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    manifest = (tmp_path / "kws" / "corpus.json").read_bytes()
    main(command + ["--reuse"])
    assert "already holds this corpus" in capsys.readouterr().out
    assert (tmp_path / "kws" / "corpus.json").read_bytes() == manifest
    assert not corpus_matches(tmp_path / "kws", 1, 3)  # the default, corpus v2, is another corpus


def test_stream_from_held_out_synthetic_voices(corpus: Path):
    from pqk_mcu.train.data.stream import make_stream

    audio, truth = make_stream(corpus, seconds=16, n_keywords=10, seed=0, snr_db=15.0, noise="babble")
    assert audio.shape == (16 * 16000,) and sorted(t.word for t in truth) == sorted(KWS_WORDS)
    assert np.all(np.diff([t.time_s for t in truth]) >= 1.5 - 1e-3)


@pytest.mark.parametrize("voice", list(tts.VOICES), ids=list(tts.VOICES))
def test_every_voice_speaks_a_keyword(voice: str):
    engine = tts.VOICES[voice].engine
    require_tools(engine)
    tts.require_engine(engine)
    setting = tts.draw_setting(tts.VOICES[voice], np.random.default_rng(0))
    (speech,) = tts.speak(setting, ["yes?"])
    clip = to_int16(place_in_clip(speech, 0) * 0.5)
    assert clip.dtype == np.int16 and clip.shape == (16000,)
    assert np.abs(clip).max() > 1000 and active_power(clip / 32768.0) > 1e-4


@pytest.fixture(scope="module")
def corpus_v2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tools("espeak-ng", "flite", "festival")
    out = tmp_path_factory.mktemp("synth_v2") / "corpus"
    summary = synthesize_corpus(out, **TINY_V2)
    assert summary.clips == 5 * (10 + 1) and summary.speakers == {"train": 3, "val": 1, "test": 1}
    return out


def test_corpus_v2_layout_and_splits(corpus_v2: Path):
    manifest = json.loads((corpus_v2 / "corpus.json").read_text())
    assert manifest["engines"] == ["espeak-ng", "flite", "festival"] and manifest["voices"] == list(TINY_V2["voices"])
    assert set(manifest["engine_versions"]) == set(manifest["engines"])
    speakers = {s["name"]: s for s in manifest["speakers"]}
    assert set(speakers) == {f"{voice}-v000" for voice in TINY_V2["voices"]}
    assert speakers["flite-slt-v000"]["pitch"] is not None and speakers["festival-slt-hts-v000"]["pitch"] is None
    for path in sorted(corpus_v2.glob("*/*_nohash_0.wav")):
        rate, samples = wavfile.read(path)
        assert rate == 16000 and samples.dtype == np.int16 and samples.shape == (16000,)
        peak_db = 20 * np.log10(np.abs(samples).max() / 32768)
        assert peak_db == pytest.approx(speakers[speaker_id(path)]["level_db"], abs=0.01)
    held_out = {}
    for list_name, split in (("validation_list.txt", "val"), ("testing_list.txt", "test")):
        listed = set((corpus_v2 / list_name).read_text().split())
        held = {p.relative_to(corpus_v2).as_posix() for p in corpus_v2.glob("*/*_nohash_0.wav")
                if speakers[speaker_id(p)]["split"] == split}
        assert listed == held and len(listed) == 11
        held_out[split] = {speakers[speaker_id(p)]["engine"] for p in listed}
    assert len(held_out["val"] | held_out["test"]) == 2  # two engines among the two held-out speakers
    assert corpus_matches(corpus_v2, 1, 7, unknown_per_speaker=1, voices=TINY_V2["voices"])
    assert not corpus_matches(corpus_v2, 1, 7, unknown_per_speaker=1, engines=("espeak-ng",),
                              voices=("en-us",))


def test_corpus_v2_same_seed_same_bytes(corpus_v2: Path, tmp_path: Path):
    again = tmp_path / "again"
    synthesize_corpus(again, **TINY_V2)
    files = sorted(p.relative_to(corpus_v2) for p in corpus_v2.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert all((corpus_v2 / f).read_bytes() == (again / f).read_bytes() for f in files)


@pytest.mark.parametrize("fixture", ["corpus", "corpus_v2"])
def test_noisy_test_split(fixture: str, request: pytest.FixtureRequest):
    corpus = request.getfixturevalue(fixture)
    manifest = json.loads((corpus / "corpus.json").read_text())
    clean_list = (corpus / "testing_list.txt").read_text().split()
    noisy_list = (corpus / "testing_noisy_list.txt").read_text().split()
    assert noisy_list == [f"_test_noisy_/{path}" for path in clean_list]
    assert [entry["path"] for entry in manifest["noisy_test"]] == noisy_list
    for entry, clean_path in zip(manifest["noisy_test"], clean_list):
        clean, noisy = read_wav(corpus / clean_path), read_wav(corpus / entry["path"])
        assert NOISY_TEST_SNR_DB[0] <= entry["snr_db"] <= NOISY_TEST_SNR_DB[1]
        assert (corpus / "_background_noise_" / f"{entry['noise']}.wav").is_file()
        noise = noisy - clean
        measured = 10 * np.log10(active_power(clean) / np.mean(np.square(noise, dtype=np.float64)))
        assert measured == pytest.approx(entry["snr_db"], abs=0.5)
    clean_set = SpeechCommands(corpus).load_split("test")
    noisy_set = SpeechCommands(corpus, test_split="noisy")
    assert all(ref.path is None or ref.path.parent.parent.name == "_test_noisy_" for ref in noisy_set.splits["test"])
    clips, labels = noisy_set.load_split("test")
    assert np.array_equal(labels, clean_set[1]) and not np.array_equal(clips, clean_set[0])
    # The noisy copies are no word folder of their own.
    assert "_test_noisy_" not in {ref.path.parent.name for refs in noisy_set.splits.values() for ref in refs if ref.path}


def test_noisy_test_split_needs_its_list(tmp_path: Path, fixtures_dir: Path):
    with pytest.raises(PqkError, match="has no testing_noisy_list.txt"):
        SpeechCommands(fixtures_dir / "speech_commands", test_split="noisy")
    with pytest.raises(PqkError, match="test split must be one of clean, noisy"):
        SpeechCommands(fixtures_dir / "speech_commands", test_split="loud")


def test_missing_engine_or_voice_is_one_error_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]):
    real_which = tts.shutil.which
    monkeypatch.setattr(tts.shutil, "which", lambda name: None if name == "flite" else real_which(name))
    with pytest.raises(SystemExit) as exit_:
        main(["data", "synth-kws", "--out", str(tmp_path / "never"), "--engines", "flite"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "error: flite is not installed (Debian/Ubuntu: apt-get install flite)\n"
    monkeypatch.setattr(tts.shutil, "which", lambda name: f"/usr/bin/{name}")
    festival = tts.ENGINES["festival"]
    monkeypatch.setitem(tts.ENGINES, "festival", replace(festival, list_voices=lambda path: {"kal_diphone"}))
    with pytest.raises(SystemExit) as exit_:
        main(["data", "synth-kws", "--out", str(tmp_path / "never"), "--engines", "festival"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        "error: festival lacks the English voices ked_diphone, cmu_us_slt_arctic_hts "
        "(Debian/Ubuntu: apt-get install festvox-kdlpc16k festvox-us-slt-hts)\n")
    assert not (tmp_path / "never").exists()


def test_kws_task_evaluates_on_the_noisy_test_split(corpus: Path):
    from pqk_mcu.train.data import load_task

    clean = load_task("kws", corpus, augment_copies=1, cache=False, progress=False)
    noisy = load_task("kws", corpus, augment_copies=1, test_split="noisy", cache=False, progress=False)
    assert np.array_equal(noisy.test[1], clean.test[1]) and not np.allclose(noisy.test[0], clean.test[0])
    assert np.array_equal(noisy.val[0], clean.val[0]) and np.array_equal(noisy.train[0], clean.train[0])
    # A corpus with the noisy split reports it beside the clean test (the experiment's noisy column).
    assert list(clean.extra_tests) == ["noisy"] and noisy.extra_tests == {}
    assert all(np.array_equal(a, b) for a, b in zip(clean.extra_tests["noisy"], noisy.test))
