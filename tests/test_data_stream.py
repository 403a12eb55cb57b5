"""KWS test stream: keyword placement, truth, noise level, files; on the tone fixture (a tone per word)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pqk_mcu.cli import main
from pqk_mcu.errors import PqkError
from pqk_mcu.train.data.levels import active_power
from pqk_mcu.train.data.stream import KeywordTruth, make_stream, read_truth, write_stream
from pqk_mcu.train.data.wav import read_wav

FIXTURE = Path(__file__).parent / "fixtures" / "speech_commands"
WORDS = ("down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "bed", "cat")
TEST_SPEAKER = "3d5e7f90"


def _tone_at(audio: np.ndarray, time_s: float) -> float:
    """Dominant frequency of the 60 ms around ``time_s``."""
    center = int(round(time_s * 16000))
    window = audio[center - 480 : center + 480].astype(np.float64)
    return float(np.fft.rfftfreq(len(window), 1 / 16000)[np.abs(np.fft.rfft(window)).argmax()])


def test_keywords_sit_at_their_truth_times_balanced_and_spaced():
    audio, truth = make_stream(FIXTURE, seconds=20, n_keywords=10, seed=3, snr_db=None)
    assert audio.dtype == np.int16 and audio.shape == (320000,)
    assert [t.word for t in truth] != list(WORDS[:10]) and sorted(t.word for t in truth) == sorted(WORDS[:10])
    times = np.array([t.time_s for t in truth])
    assert np.all(np.diff(times) >= 1.5 - 1e-3) and times[0] >= 1.0 - 0.04 and times[-1] <= 19.0 + 0.04
    for item in truth:  # the fixture's word w is a tone at 500 + 250 * index(w) Hz
        assert _tone_at(audio, item.time_s) == pytest.approx(500 + 250 * WORDS.index(item.word), abs=17)
    # Outside the words, a clean stream is silent.
    quiet = np.ones(len(audio), bool)
    for item in truth:
        quiet[int(item.time_s * 16000) - 800 : int(item.time_s * 16000) + 800] = False
    assert not audio[quiet].any()


def test_unknown_words_are_placed_but_not_in_the_truth():
    audio, truth = make_stream(FIXTURE, seconds=20, n_keywords=4, n_unknown=1, seed=0, snr_db=None)
    assert len(truth) == 4
    sounding = np.flatnonzero(audio)
    assert 1 + np.count_nonzero(np.diff(sounding) > 1600) == 5  # five separate words
    with pytest.raises(PqkError, match="2 unknown words asked, the test split has 1"):
        make_stream(FIXTURE, seconds=20, n_keywords=4, n_unknown=2)


def test_background_at_the_requested_snr():
    clean, truth = make_stream(FIXTURE, seconds=20, n_keywords=10, seed=1, snr_db=None)
    noisy, noisy_truth = make_stream(FIXTURE, seconds=20, n_keywords=10, seed=1, snr_db=10.0, noise="white_noise")
    assert noisy_truth == truth
    noise = (noisy.astype(np.float64) - clean) / 32768
    speech = np.mean([active_power(read_wav(FIXTURE / w / f"{TEST_SPEAKER}_nohash_0.wav")) for w in WORDS[:10]])
    assert 10 * np.log10(speech / np.mean(noise**2)) == pytest.approx(10.0, abs=0.1)


def test_seeded_and_bad_requests_are_clean_errors():
    first = make_stream(FIXTURE, seconds=15, n_keywords=5, seed=7)
    again = make_stream(FIXTURE, seconds=15, n_keywords=5, seed=7)
    assert np.array_equal(first[0], again[0]) and first[1] == again[1]
    assert make_stream(FIXTURE, seconds=15, n_keywords=5, seed=8)[1] != first[1]
    with pytest.raises(PqkError, match="a 10 s stream cannot hold 8 words 1.5 s apart"):
        make_stream(FIXTURE, seconds=10, n_keywords=8)
    with pytest.raises(PqkError, match="no background noise 'rain'; available: short_noise, white_noise"):
        make_stream(FIXTURE, seconds=10, n_keywords=2, noise="rain")


def test_write_and_read_truth_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    audio, truth = make_stream(FIXTURE, seconds=12, n_keywords=3, seed=2)
    truth_path = write_stream(tmp_path / "stream.wav", audio, truth)
    assert truth_path == tmp_path / "stream.truth.json" and read_truth(truth_path) == truth
    assert all(isinstance(t, KeywordTruth) for t in read_truth(truth_path))
    assert np.array_equal(read_wav(tmp_path / "stream.wav"), audio / np.float32(32768))
    main(["data", "stream", str(FIXTURE), "--out", str(tmp_path / "cli.wav"), "--seconds", "12",
          "--keywords", "3", "--seed", "2"])
    assert read_truth(tmp_path / "cli.truth.json") == truth
    with pytest.raises(SystemExit) as exit_:
        main(["data", "stream", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.wav")])
    assert exit_.value.code == 2 and "error: speech commands:" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()
