"""Magnitude pruning of the ops whose weights the registry marks (``OpDef.pruned_slots``) beyond conv,
depthwise and FC: the LSTM's eight gate weight tensors, SVDF's feature weights and TRANSPOSE_CONV's filter,
nothing else (biases, SVDF's time weights, states). The pruned real models stay valid .tflite files:
TensorFlow Lite Micro runs them and the reference equals it; the host and cortex-m4 equal the reference.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conftest import FIXTURES
from pqk_mcu.codegen import generate_c
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.prune import prune_by_magnitude
from pqk_mcu.pipeline.verify import verify_model
from pqk_mcu.verify import random_inputs

from test_op_transpose_conv import CASES as TRANSPOSE_CONV_CASES, _graph as transpose_conv_graph
from test_perf_kernels import _assert_bit_exact

MICRO_SPEECH_LSTM = FIXTURES / "tflm" / "micro_speech_lstm.tflite"
KEYWORD_SCRAMBLED = FIXTURES / "tflm" / "keyword_scrambled_8bit.tflite"


def _pruned_slots(graph, pruned, kind: str) -> list[tuple[int, float]]:
    """(slot, zero fraction) of each input of the ``kind`` ops whose data pruning changed."""
    before, after = graph.tensor_map, pruned.tensor_map
    changed = []
    for op in graph.ops:
        if op.kind != kind:
            continue
        for slot, name in enumerate(op.inputs):
            if name and before[name].data is not None and not np.array_equal(before[name].data, after[name].data):
                changed.append((slot, float(np.mean(after[name].data == 0))))
    return changed


def test_lstm_gate_weights_are_pruned():
    graph = load_tflite(MICRO_SPEECH_LSTM)
    changed = _pruned_slots(graph, prune_by_magnitude(graph, 0.8), "UNIDIRECTIONAL_SEQUENCE_LSTM")
    assert [slot for slot, _ in changed] == list(range(1, 9))
    assert all(abs(zeros - 0.8) < 0.01 for _, zeros in changed)


def test_svdf_feature_weights_are_pruned_and_time_weights_kept():
    graph = load_tflite(KEYWORD_SCRAMBLED)
    changed = _pruned_slots(graph, prune_by_magnitude(graph, 0.8), "SVDF")
    assert len(changed) == sum(op.kind == "SVDF" for op in graph.ops) == 7
    assert {slot for slot, _ in changed} == {1}


def test_transpose_conv_filters_are_pruned():
    graph = transpose_conv_graph()
    changed = _pruned_slots(graph, prune_by_magnitude(graph, 0.5), "TRANSPOSE_CONV")
    assert len(changed) == 5 and {slot for slot, _ in changed} == {1}


@pytest.mark.parametrize("board", ["reference", "host", "cortex-m4"])
@pytest.mark.parametrize("model,sparsity", [(MICRO_SPEECH_LSTM, 0.9), (KEYWORD_SCRAMBLED, 0.9),
                                            (MICRO_SPEECH_LSTM, 0.8)])
def test_pruned_models_verify(request, board, model, sparsity):
    if board != "reference":
        request.getfixturevalue("toolchain")
    graph = prune_by_magnitude(load_tflite(model), sparsity)
    model_bytes = export_tflite(graph)
    graph = load_tflite(model_bytes)  # the pruned file as a user gets it from ``pqk-mcu prune``
    report = verify_model(graph, model_bytes, board, random_inputs(graph, 4, seed=1))
    assert report.inputs == 4 and report.mismatches == []


def test_pruned_transpose_conv_verifies(toolchain):
    graph = prune_by_magnitude(transpose_conv_graph(), 0.7)
    for board in ("reference", "host", "cortex-m4"):
        model_bytes = export_tflite(graph) if board == "reference" else None
        report = verify_model(graph, model_bytes, board, random_inputs(graph, 2, seed=5))
        assert report.inputs == 2 and report.mismatches == []


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
@pytest.mark.parametrize("case", range(len(TRANSPOSE_CONV_CASES)))
def test_pruned_transpose_conv_runs_on_csr(tmp_path, toolchain, target, case):
    """pqk_transpose_conv_s8_csr on the test layers (strides, SAME and VALID, with and without bias, fused
    activations) pruned to 0.7 with every third tap row empty."""
    graph = prune_by_magnitude(transpose_conv_graph([TRANSPOSE_CONV_CASES[case]], seed=case), 0.7)
    name = graph.ops[0].inputs[1]

    def empty_rows(tensor):
        data = tensor.data.copy()
        data.reshape(-1, data.shape[-1])[::3] = 0
        return dataclasses.replace(tensor, data=data)

    graph = graph.replace(tensors=tuple(empty_rows(t) if t.name == name else t for t in graph.tensors))
    generated = generate_c(graph, tmp_path / "gen", weight_format="csr", board="cortex-m4")
    assert generated.layers[0].kernel == "pqk_transpose_conv_s8_csr"
    _assert_bit_exact(generated, target, tmp_path)
