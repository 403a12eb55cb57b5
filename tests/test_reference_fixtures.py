"""Every converter-made fixture model: reference interpreter vs TensorFlow Lite Micro, bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.reference import run_reference
from pqk_mcu.pipeline.verify import verify_model
from pqk_mcu.verify import random_inputs

FIXTURE_MODELS = sorted((Path(__file__).parent / "fixtures").glob("*.tflite"))
RANDOM_INPUTS = 100


@pytest.mark.parametrize("path", FIXTURE_MODELS, ids=lambda p: p.stem)
def test_fixture_bit_exact_with_tflm(path):
    model_bytes = path.read_bytes()
    graph = load_tflite(model_bytes)
    report = verify_model(graph, model_bytes, "reference", random_inputs(graph, RANDOM_INPUTS, seed=2024))
    assert report.passed, "\n".join(line for m in report.mismatches for line in m.describe())
    assert report.summary() == f"verified {RANDOM_INPUTS}/{RANDOM_INPUTS} inputs bit-exact on reference"


@pytest.mark.parametrize("path", FIXTURE_MODELS, ids=lambda p: p.stem)
def test_fixture_intermediates_cover_every_op(path):
    graph = load_tflite(path)
    (inputs,) = random_inputs(graph, 1, seed=3)
    result = run_reference(graph, inputs, keep_intermediates=True)
    assert list(result["tensors"]) == [name for op in graph.ops for name in op.outputs]
    for name, array in zip(graph.outputs, result["outputs"]):
        assert array.shape == graph.tensor(name).shape
        assert array.dtype == np.dtype(graph.tensor(name).dtype)
        assert np.array_equal(array, result["tensors"][name])
    assert "tensors" not in run_reference(graph, inputs)


def test_person_detect_detects_a_constant_image_deterministically():
    graph = load_tflite(Path(__file__).parent / "fixtures" / "person_detect.tflite")
    image = np.zeros((1, 96, 96, 1), dtype=np.int8)
    first = run_reference(graph, [image])["outputs"][0]
    assert np.array_equal(first, run_reference(graph, [image])["outputs"][0])
    assert first.shape == (1, 2) and first.dtype == np.int8
