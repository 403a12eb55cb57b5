"""Generated C (host, ASan/UBSan) vs the reference on hypothesis-generated models, bit for bit.

``make test`` runs a small derandomized sample of single-op and multi-op models in dense and CSR
formats; ``make fuzz`` runs the ``fuzz``-marked variants with the fuzz profile's example count.
"""

from __future__ import annotations

import tempfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import require_tools
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.ir.graph import Graph
from pqk_mcu.reference import run_reference
from pqk_mcu.pipeline.host import HostModel
from pqk_mcu.verify import random_inputs
from strategies import SINGLE_OP_KINDS, multi_op_graphs, single_op_graphs

INPUTS_PER_MODEL = 2
SINGLE_OP_EXAMPLES = 2  # per kind
MULTI_OP_EXAMPLES = 10
formats = st.sampled_from(["dense", "csr"])


def only_float_edges(graph: Graph) -> bool:
    """A lone float QUANTIZE / DEQUANTIZE: nothing is left for the int8 C core once edges are split."""
    op = graph.ops[0]
    return len(graph.ops) == 1 and (op.kind == "DEQUANTIZE" or graph.tensor(op.inputs[0]).dtype == "float32")


def assert_host_matches_reference(graph: Graph, weight_format: str, seed: int) -> None:
    with tempfile.TemporaryDirectory(prefix="pqk-codegen-fuzz-") as work:
        model = HostModel(graph, weight_format, work_dir=work)
        samples = random_inputs(graph, INPUTS_PER_MODEL, seed)
        for sample, result in zip(samples, model.run(samples)):
            reference = run_reference(graph, sample, keep_intermediates=True)
            for name, value in result["tensors"].items():
                assert np.array_equal(reference["tensors"][name], value), f"tensor '{name}'"
            for expected, actual in zip(reference["outputs"], result["outputs"], strict=True):
                assert np.array_equal(expected, actual)


@pytest.mark.parametrize("kind", SINGLE_OP_KINDS)
def test_single_op_models_on_host(kind):
    require_tools("gcc")

    @settings(max_examples=SINGLE_OP_EXAMPLES, derandomize=True, database=None)
    @given(single_op_graphs(kind), formats, st.integers(0, 2**31))
    def check(graph, weight_format, seed):
        if not only_float_edges(graph):
            assert_host_matches_reference(graph, weight_format, seed)

    check()


@settings(max_examples=MULTI_OP_EXAMPLES, derandomize=True, database=None)
@given(multi_op_graphs(), formats, st.integers(0, 2**31))
def test_multi_op_models_on_host(graph, weight_format, seed):
    require_tools("gcc")
    assert_host_matches_reference(graph, weight_format, seed)


@pytest.mark.fuzz
@given(st.sampled_from(SINGLE_OP_KINDS).flatmap(single_op_graphs), formats, st.integers(0, 2**31))
def test_fuzz_single_op_models_on_host(graph, weight_format, seed):
    require_tools("gcc")
    if not only_float_edges(graph):
        assert_host_matches_reference(graph, weight_format, seed)


@pytest.mark.fuzz
@given(multi_op_graphs(), formats, st.integers(0, 2**31))
def test_fuzz_multi_op_models_on_host(graph, weight_format, seed):
    require_tools("gcc")
    assert_host_matches_reference(graph, weight_format, seed)


@pytest.mark.parametrize("shape,axes", [((1, 1, 1), [0, 2]), ((2, 3, 1, 4), [1, 3]), ((2, 1, 3, 4), [1, 2, 3]),
                                        ((2, 2, 2), [0, 2]), ((2, 3, 2, 5), [3, 1]), ((3, 1, 2, 4), [0, 3])])
def test_mean_over_any_axes_on_host(shape, axes):
    """Found by make fuzz: MEAN over axes that are not contiguous (pqk_mean_s8_gather), or contiguous once
    size-1 axes are skipped (pqk_mean_s8)."""
    require_tools("gcc")
    b = GraphBuilder()
    x = b.input(shape, scale=0.5, zero_point=3)
    graph = b.build(outputs=[b.mean(x, axes, keep_dims=False, out_scale=0.25, out_zero_point=-2)])
    assert_host_matches_reference(graph, "dense", seed=0)
