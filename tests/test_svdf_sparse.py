"""SVDF with its feature weights in CSR (pqk_svdf_s8_csr, the feature products skipping the zeros) against
the reference, on the host (ASan/UBSan) and on cortex-m4 in QEMU: int8 and int16 state, rank 1 and 2,
batch 2, 8- and 16-bit columns, rows with no nonzero. The cost model keeps dense feature weights dense and
stores pruned ones as CSR.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.ir.prune import prune_array
from test_op_svdf import svdf_graph
from test_perf_kernels import _assert_bit_exact

CASES = {
    "int8_rank_2_batch_2": dict(state_dtype="int8", rank=2, batch=2, seed=21),
    "int16_rank_1_300_inputs": dict(state_dtype="int16", rank=1, batch=1, seed=22, input_size=300),
}


def _pruned(graph, sparsity: float):
    """The SVDF with its feature weights pruned to ``sparsity``, every third row emptied."""
    name = graph.ops[0].inputs[1]

    def prune(tensor):
        data = prune_array(tensor.data, sparsity)
        data[::3] = 0
        return dataclasses.replace(tensor, data=data)

    return graph.replace(tensors=tuple(prune(t) if t.name == name else t for t in graph.tensors))


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
@pytest.mark.parametrize("case", CASES)
def test_sparse_svdf(tmp_path, toolchain, target, case):
    generated = generate_c(_pruned(svdf_graph(**CASES[case]), 0.7), tmp_path / "gen", weight_format="csr",
                           board="cortex-m4")
    assert generated.layers[0].kernel == "pqk_svdf_s8_csr"
    weights_c = (generated.out_dir / "model_weights.c").read_text()
    assert ("col_u16" in weights_c) == ("300" in case)
    _assert_bit_exact(generated, target, tmp_path)


def test_auto_stores_pruned_feature_weights_as_csr(tmp_path):
    graph = svdf_graph(**CASES["int8_rank_2_batch_2"])
    assert generate_c(graph, tmp_path / "dense").layers[0].kernel == "pqk_svdf_s8"
    assert generate_c(_pruned(graph, 0.9), tmp_path / "csr").layers[0].kernel == "pqk_svdf_s8_csr"
