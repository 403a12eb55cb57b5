"""The check every op's tests make: the op's graph on random inputs, bit-exact on a backend."""

from __future__ import annotations

from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.ir.graph import Graph
from pqk_mcu.pipeline.verify import verify_model
from pqk_mcu.verify import random_inputs


def assert_bit_exact(graph: Graph, backend: str, samples: int, seed: int) -> None:
    """``backend`` "reference" is held to TensorFlow Lite Micro on the exported .tflite; host and boards to the
    reference."""
    model = export_tflite(graph) if backend == "reference" else None
    report = verify_model(graph, model, backend, random_inputs(graph, samples, seed=seed))
    assert report.inputs == samples and report.mismatches == []
