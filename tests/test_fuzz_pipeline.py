"""Random graphs through three implementations, bit for bit: reference, generated C on the host, TFLite Micro.

Graphs come from ``tests/strategies.py`` (every op kind alone, and small multi-op networks). Each
graph is exported to .tflite for TFLite Micro, generated as C (weight format drawn: auto, dense or
CSR) and built for the host with ``-Wall -Wextra -Wconversion -Werror`` under ASan and UBSan
(``pqk_mcu.pipeline.host``), so an out-of-bounds read, an overflow or a warning in generated code
fails the case as surely as a wrong value. Every op output the C traces must equal the
reference's tensor of the same name, not only the final outputs. A graph the C core does not take
(e.g. nothing but a float QUANTIZE edge, MEAN over non-adjacent axes) must be refused with an
``UnsupportedModelError``; reference and TFLite Micro are still compared for it.

``make test`` runs a fixed (derandomized) sample. ``make fuzz`` runs the ``fuzz``-marked variants
with fresh randomness; each example compiles a C program (about a second), so they take
``FUZZ_EXAMPLES`` graphs instead of the profile's 10,000 (the parser fuzz and the reference-vs-TFLM
fuzz supply the ten-thousands).
"""

from __future__ import annotations

import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import require_tools
from pqk_mcu.errors import UnsupportedModelError
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.ir.graph import Graph
from pqk_mcu.pipeline.backends import reference_backend, tflm_backend
from pqk_mcu.pipeline.host import HostModel
from pqk_mcu.verify.compare import compare_results, random_inputs
from strategies import SINGLE_OP_KINDS, multi_op_graphs, single_op_graphs

INPUTS_PER_GRAPH = 4
MULTI_OP_EXAMPLES = 12      # make test: host builds dominate (~1 s each)
SINGLE_OP_EXAMPLES = 12
FUZZ_EXAMPLES = 1000
weight_formats = st.sampled_from(("auto", "dense", "csr"))


def assert_three_agree(graph: Graph, weight_format: str, seed: int) -> None:
    model_bytes = export_tflite(graph)
    inputs = random_inputs(graph, INPUTS_PER_GRAPH, seed)
    with tempfile.TemporaryDirectory(prefix="pqk-fuzz-") as work:
        try:
            host_results = HostModel(graph, weight_format, work_dir=work).run(inputs)
            event("generated C built and ran")
        except UnsupportedModelError as error:
            assert "\n" not in str(error)
            event(f"refused by codegen: {str(error).split(':')[0]}")
            host_results = None
    for index, sample in enumerate(inputs):
        expected = reference_backend(graph, model_bytes, sample)
        mismatch = compare_results(graph, index, expected, tflm_backend(graph, model_bytes, sample))
        assert mismatch is None, "tflm:\n" + "\n".join(mismatch.describe())
        if host_results is None:
            continue
        mismatch = compare_results(graph, index, expected, host_results[index])
        assert mismatch is None, "host:\n" + "\n".join(mismatch.describe())
        traced = host_results[index]["tensors"]
        assert traced, "the host harness traced no layer"
        for tensor_name, value in traced.items():
            if tensor_name in expected["tensors"]:
                assert np.array_equal(value, expected["tensors"][tensor_name]), f"host layer output '{tensor_name}'"


@pytest.fixture(autouse=True)
def _gcc():
    require_tools("gcc")


@settings(max_examples=MULTI_OP_EXAMPLES, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(multi_op_graphs(), weight_formats, st.integers(0, 2**31))
def test_multi_op_graphs_agree(graph, weight_format, seed):
    assert_three_agree(graph, weight_format, seed)


@settings(max_examples=SINGLE_OP_EXAMPLES, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SINGLE_OP_KINDS).flatmap(single_op_graphs), weight_formats, st.integers(0, 2**31))
def test_single_op_graphs_agree(graph, weight_format, seed):
    assert_three_agree(graph, weight_format, seed)


@pytest.mark.fuzz
@settings(max_examples=FUZZ_EXAMPLES)
@given(st.one_of(multi_op_graphs(), st.sampled_from(SINGLE_OP_KINDS).flatmap(single_op_graphs)), weight_formats,
       st.integers(0, 2**31))
def test_fuzz_graphs_agree(graph, weight_format, seed):
    assert_three_agree(graph, weight_format, seed)
