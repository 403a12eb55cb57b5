"""Generated models, reference interpreter vs TensorFlow Lite Micro, bit for bit.

``make test`` runs a fixed (derandomized) sample: every op kind alone with random shapes,
strides, paddings, dilations, depth multipliers, scales, zero points and activations, plus small
multi-op networks. ``make fuzz`` (``pytest -m fuzz --hypothesis-profile fuzz``) runs the
``fuzz``-marked variants with the profile's example count and fresh randomness.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.ir.graph import Graph
from pqk_mcu.pipeline.backends import reference_backend, tflm_backend
from pqk_mcu.verify.compare import compare_results, random_inputs
from strategies import SINGLE_OP_KINDS, multi_op_graphs, single_op_graphs

INPUTS_PER_MODEL = 3
SINGLE_OP_EXAMPLES = 40  # per kind: 18 kinds -> 720 single-op models in make test
MULTI_OP_EXAMPLES = 100


def assert_matches_tflm(graph: Graph, seed: int) -> None:
    model_bytes = export_tflite(graph)
    for index, inputs in enumerate(random_inputs(graph, INPUTS_PER_MODEL, seed)):
        expected = tflm_backend(graph, model_bytes, inputs)
        actual = reference_backend(graph, model_bytes, inputs)
        mismatch = compare_results(graph, index, expected, actual)
        assert mismatch is None, "\n".join(mismatch.describe())
        assert set(actual["tensors"]) == {name for op in graph.ops for name in op.outputs}
        for name, value in expected["tensors"].items():
            assert np.array_equal(value, actual["tensors"][name]), name


@pytest.mark.parametrize("kind", SINGLE_OP_KINDS)
def test_single_op_models_match_tflm(kind):
    @settings(max_examples=SINGLE_OP_EXAMPLES, derandomize=True, database=None)
    @given(single_op_graphs(kind), st.integers(0, 2**31))
    def check(graph, seed):
        assert graph.ops[0].kind == kind
        assert_matches_tflm(graph, seed)

    check()


@settings(max_examples=MULTI_OP_EXAMPLES, derandomize=True, database=None)
@given(multi_op_graphs(), st.integers(0, 2**31))
def test_multi_op_models_match_tflm(graph, seed):
    assert_matches_tflm(graph, seed)


@pytest.mark.fuzz
@given(st.sampled_from(SINGLE_OP_KINDS).flatmap(single_op_graphs), st.integers(0, 2**31))
def test_fuzz_single_op_models(graph, seed):
    assert_matches_tflm(graph, seed)


@pytest.mark.fuzz
@given(multi_op_graphs(), st.integers(0, 2**31))
def test_fuzz_multi_op_models(graph, seed):
    assert_matches_tflm(graph, seed)
