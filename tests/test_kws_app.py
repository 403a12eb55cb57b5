"""KWS app (firmware/apps/kws/) against the Python streaming reference, on the host and in QEMU."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from pqk_mcu.pipeline import kws
from pqk_mcu.audio import streaming
from pqk_mcu.cli import main
from pqk_mcu.errors import PqkError
from pqk_mcu.exporters.tflite import save_tflite
from pqk_mcu.ir.builder import GraphBuilder

LABELS = ("_silence_", "_unknown_", "yes", "no", "up")
SPEECH_COMMANDS = Path(__file__).parent / "fixtures" / "speech_commands"
DETECT_OFTEN = streaming.DetectionConfig(threshold=0.3, average_windows=2, suppression_ms=500)


def small_kws_graph(seed: int = 0, softmax: bool = True, labels: str | None = ",".join(LABELS)):
    """A small DS-CNN-shaped int8 model on the 49x10 MFCC input with random weights."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input((1, 49, 10, 1), scale=0.35, zero_point=60)

    def weights(shape):
        return rng.integers(-127, 128, shape).astype(np.int8)

    y = b.conv2d(x, weights((8, 10, 4, 1)), 0.002, rng.integers(-500, 500, 8).astype(np.int32), 0.05, -128,
                 stride=2, padding="SAME", activation="RELU")
    y = b.depthwise_conv2d(y, weights((1, 3, 3, 8)), 0.01, None, 0.05, -128, activation="RELU")
    y = b.conv2d(y, weights((8, 1, 1, 8)), 0.003, None, 0.05, -128, activation="RELU")
    y = b.average_pool2d(y, (25, 5), (25, 5))
    y = b.fully_connected(b.reshape(y, (1, 8)), weights((len(LABELS), 8)), 0.01, None, 0.2, 0)
    if softmax:
        y = b.softmax(y)
    if labels is not None:
        b.metadata("pqk_labels", labels)
    return b.build(outputs=[y])


def speechy_stream(seconds: float, seed: int = 1) -> np.ndarray:
    """Noise with tone bursts of changing loudness (the window peaks and spectra vary)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    bursts = sum(np.sin(2 * np.pi * f * t) * np.exp(-(((t - c) / 0.15) ** 2)) * a
                 for f, c, a in zip(rng.uniform(200, 3000, 8), rng.uniform(0, seconds, 8), rng.uniform(500, 20000, 8)))
    return np.clip(rng.normal(0, 200, t.size) + bursts, -32768, 32767).astype(np.int16)


@pytest.fixture(scope="module")
def host_app(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("missing tools: gcc")
    return kws.build_kws(small_kws_graph(), "host", tmp_path_factory.mktemp("kws") / "host", config=DETECT_OFTEN)


def test_traced_host_app_has_twin_features(tmp_path):
    if shutil.which("gcc") is None:
        pytest.skip("missing tools: gcc")
    app = kws.build_kws(small_kws_graph(), "host", tmp_path / "host", config=DETECT_OFTEN, trace=True)
    audio = np.concatenate([np.zeros(5000, np.int16), speechy_stream(2.5)])  # silent frames at the start
    run = kws.run_kws(app, audio)
    assert run.lines == run.reference


def test_host_app_matches_streaming_reference(host_app):
    audio = speechy_stream(6.3)
    run = kws.run_kws(host_app, audio)
    assert run.reference == kws.reference_lines(host_app.model, audio, host_app.config, host_app.frontend)
    assert run.lines, "the test stream should produce detections"
    assert all(line.startswith("kws: t=") and " word=" in line for line in run.lines)
    assert run.lines == run.reference


def test_one_second_is_one_window_with_top_class(host_app):
    run = kws.run_kws(host_app, speechy_stream(1.0))
    assert len(run.lines) == 1 and run.lines[0].startswith("kws: t=1.000s top=")
    assert run.lines == run.reference


def test_short_audio_is_padded_to_one_window(host_app):
    run = kws.run_kws(host_app, speechy_stream(0.4))
    assert run.lines == run.reference and run.lines[0].startswith("kws: t=1.000s top=")


def test_clip_shorter_than_the_averaging_span_reports_its_top_class(host_app):
    """1.3 s holds two windows, DETECT_OFTEN averages two: one line, the top class over both."""
    audio = speechy_stream(1.3)
    assert len(kws.reference_windows(host_app.model, audio, host_app.config, host_app.frontend)) == 2
    run = kws.run_kws(host_app, audio)
    assert len(run.lines) == 1 and run.lines[0].startswith("kws: t=1.240s top=")
    assert run.lines == run.reference


def test_logit_outputs_and_odd_stride_on_host(tmp_path):
    if shutil.which("gcc") is None:
        pytest.skip("missing tools: gcc")
    config = streaming.DetectionConfig(stride_ms=330, threshold=0.25, average_windows=1, suppression_ms=0)
    app = kws.build_kws(small_kws_graph(seed=3, softmax=False), "host", tmp_path / "host", config=config)
    run = kws.run_kws(app, speechy_stream(5.0, seed=4))
    assert run.lines and run.lines == run.reference


def test_detection_rules():
    labels = ("_silence_", "yes", "no")
    probability = lambda *p: np.array([round(v * 256) - 128 for v in p], np.int8)  # noqa: E731
    outputs = [probability(0.1, 0.8, 0.1), probability(0.1, 0.85, 0.05), probability(0.9, 0.05, 0.05),
               probability(0.0, 0.1, 0.9), probability(0.99, 0.0, 0.0)]
    ends = [16000 + 4000 * i for i in range(len(outputs))]
    config = streaming.DetectionConfig(average_windows=1, threshold=0.7, suppression_ms=600)
    lines = streaming.detections(outputs, ends, labels, config, 1 / 256, -128)
    # window 2 is suppressed (250 ms after the first), _silence_ is never reported
    assert lines == ["kws: t=1.000s word=yes score=0.80", "kws: t=1.750s word=no score=0.90"]
    averaged = streaming.detections(outputs, ends, labels, streaming.DetectionConfig(average_windows=3), 1 / 256, -128)
    assert averaged == ["kws: t=1.000s word=yes score=0.80"]
    # As many windows as are averaged: one clip, its top class over all of them, _silence_ included
    clip = streaming.detections(outputs[2:], ends[2:], labels, streaming.DetectionConfig(average_windows=3),
                                1 / 256, -128)
    assert clip == ["kws: t=2.000s top=_silence_ score=0.63"]


def test_posteriors_of_logits_sum_to_one():
    posterior = streaming.posteriors_q15(np.array([10, -3, 40], np.int8), 0.1, 0)
    assert abs(int(posterior.sum()) - 32768) <= 3 and int(np.argmax(posterior)) == 2
    expected = np.exp(0.1 * np.array([10, -3, 40])) / np.exp(0.1 * np.array([10, -3, 40])).sum()
    np.testing.assert_allclose(posterior / 32768, expected, atol=1e-3)


def test_bad_configurations_and_models():
    with pytest.raises(PqkError, match="multiple of 10 ms"):
        streaming.DetectionConfig(stride_ms=255)
    with pytest.raises(PqkError, match="threshold"):
        streaming.DetectionConfig(threshold=1.5)
    with pytest.raises(PqkError, match="no 'pqk_labels' metadata"):
        kws.load_kws_model(small_kws_graph(labels=None))
    with pytest.raises(PqkError, match="3 labels given for a model with 5 outputs"):
        kws.load_kws_model(small_kws_graph(), labels="a,b,c")
    with pytest.raises(PqkError, match="label"):
        kws.load_kws_model(small_kws_graph(), labels='a,b,c,d,"e')
    b = GraphBuilder()
    x = b.input((1, 1960), scale=0.1, zero_point=0)
    wrong = b.build(outputs=[b.fully_connected(x, np.ones((4, 1960), np.int8), 0.01, None, 0.1, 0)])
    with pytest.raises(PqkError, match="49x10 int8 MFCC"):
        kws.load_kws_model(wrong, labels="a,b,c,d")


def test_unsupported_usart_console_is_refused(tmp_path):
    with pytest.raises(PqkError, match="nucleo-l4r5zi: the KWS app's USART console drives STM32F4 USART2"):
        kws.build_kws(small_kws_graph(), "nucleo-l4r5zi", tmp_path / "l4")
    assert not (tmp_path / "l4").exists()


def test_kws_run_cli_on_host(tmp_path, capsys):
    if shutil.which("gcc") is None:
        pytest.skip("missing tools: gcc")
    model = tmp_path / "kws.tflite"
    save_tflite(small_kws_graph(), model)
    wav = tmp_path / "speech.wav"
    stereo = np.stack([speechy_stream(3.0), speechy_stream(3.0)], axis=1)
    wavfile.write(wav, 16000, stereo)
    main(["kws", "run", "--board", "host", "--model", str(model), "--wav", str(wav), "--threshold", "0.3",
          "--average", "2", "--suppression-ms", "500", "-o", str(tmp_path / "build")])
    out = capsys.readouterr().out
    assert "same lines as the Python streaming reference" in out and "kws: t=" in out


def test_folder_clips_follow_the_testing_list():
    clips = kws.folder_clips(SPEECH_COMMANDS)
    assert clips == sorted(f"{word}/3d5e7f90_nohash_0.wav" for word in
                           ("bed", "cat", "down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes"))
    assert kws.clip_truth("yes/a.wav", LABELS) == "yes" and kws.clip_truth("cat/a.wav", LABELS) == "_unknown_"
    assert kws.clip_truth("cat/a.wav", ("yes", "no")) is None


def test_kws_classify_cli_on_speech_commands_fixture(tmp_path, capsys):
    if shutil.which("gcc") is None:
        pytest.skip("missing tools: gcc")
    model = tmp_path / "kws.tflite"
    save_tflite(small_kws_graph(), model)
    main(["kws", "classify", str(model), "--data", str(SPEECH_COMMANDS), "-o", str(tmp_path / "out")])
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "classification.json").read_text())
    assert summary["clips"] == 12 and summary["labels"] == list(LABELS)
    confusion = np.array(summary["confusion"])
    assert confusion.sum() == 12 and confusion[1].sum() == 9  # nine clips of words the model calls _unknown_
    correct = sum(p["truth"] == p["predicted"] for p in summary["predictions"])
    assert summary["accuracy"] == correct / 12 == np.trace(confusion) / 12
    assert f"accuracy {100 * summary['accuracy']:.2f}% on 12 clips on host" in out
    assert out.splitlines()[0].split() == ["true\\app", *LABELS]
    assert (tmp_path / "out" / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_kws_run_cli_rejects_bad_wav(tmp_path, capsys):
    model = tmp_path / "kws.tflite"
    save_tflite(small_kws_graph(), model)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav at all")
    with pytest.raises(SystemExit) as exit_info:
        main(["kws", "run", "--board", "host", "--model", str(model), "--wav", str(bad)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: {bad}: not a WAV file (no RIFF/WAVE header)"
    assert not (tmp_path / "build").exists()


@pytest.mark.toolchain
@pytest.mark.parametrize("board", ["cortex-m4", "cortex-m3", "nucleo-f446re"])
def test_qemu_app_matches_streaming_reference(board, toolchain, tmp_path):
    """cortex-m4: float front-end; cortex-m3: integer-only; nucleo-f446re: netduinoplus2 with USART2 console.

    Traced: every window's int8 features and outputs must equal the twins' and the reference's.
    """
    app = kws.build_kws(small_kws_graph(), board, tmp_path / board, config=DETECT_OFTEN, trace=True)
    assert app.frontend.name == ("q15" if board == "cortex-m3" else "f32")
    run = kws.run_kws(app, speechy_stream(3.4))
    assert run.lines and run.lines == run.reference
    assert 0 < run.stack_bytes < 8192


@pytest.mark.toolchain
def test_bench_counts_instructions_per_inference_and_frame(toolchain, tmp_path):
    result = kws.bench_kws(small_kws_graph(), "cortex-m4", tmp_path)
    counts = result["instructions"]
    assert counts["inference"] > 10_000 and counts["mfcc_frame"] > 20_000
    assert result["size"]["ram_bytes"]["arena"] > 0
