"""The shortened `make demo` end to end: corpus -> PQK training -> verify -> KWS firmware in QEMU."""

from __future__ import annotations

import dataclasses
import json

from pqk_mcu.pipeline.demo import QUICK, run_demo, score_detections
from conftest import require_tools


def test_score_detections_matches_each_keyword_once():
    lines = ["kws: t=2.240s word=yes score=0.91", "kws: t=2.740s word=yes score=0.80",
             "kws: t=6.000s word=no score=0.75", "kws: t=9.000s word=up score=0.70"]
    scores = score_detections(lines, [(1.5, "yes"), (5.2, "no"), (9.0, "down")])
    assert scores["hits"] == [True, True, False]
    assert (scores["detected"], scores["false_alarms"]) == (2, 2)


def test_quick_demo_runs_end_to_end_and_again_to_the_same_numbers(tmp_path):
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "espeak-ng")
    assert run_demo(dataclasses.replace(QUICK, out=tmp_path / "demo"))
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["bit_exact"] and summary["firmware_agrees_with_reference"]
    assert 0.75 <= summary["model_sparsity"] <= 0.85
    assert (tmp_path / "demo" / "kws_model.tflite").is_file()
    assert (tmp_path / "demo" / "kws_firmware" / "firmware.elf").is_file()
    # From nothing again (corpus, features, training, stream): the same model and numbers, all but the time
    assert run_demo(dataclasses.replace(QUICK, out=tmp_path / "again"))
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert {**again, "seconds": None} == {**summary, "seconds": None}
    for artifact in ("kws_model.tflite", "stream.wav"):
        assert (tmp_path / "again" / artifact).read_bytes() == (tmp_path / "demo" / artifact).read_bytes()
