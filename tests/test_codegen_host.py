"""Generated C on the host (gcc, ASan/UBSan) is bit-exact with the reference on every fixture model.

Each fixture runs as shipped and pruned (90 % of each layer's weights zeroed by magnitude), with
weights forced dense and forced CSR; outputs and every op output the C exposes must equal the
reference's. person_detect is the largest fixture and runs one input per build to keep the suite fast.
"""

from __future__ import annotations


import numpy as np
import pytest

from conftest import SHARED_MODELS, require_tools
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.graph import Graph
from pqk_mcu.ir.opdef import OP_DEFS
from pqk_mcu.ir.prune import prune_by_magnitude
from pqk_mcu.reference import run_reference
from pqk_mcu.pipeline.backends import get_backend
from pqk_mcu.pipeline.host import HostModel, host_backend
from pqk_mcu.verify import random_inputs

INPUTS_PER_MODEL = {"person_detect": 1}


def _assert_bit_exact(graph: Graph, model: HostModel, count: int) -> None:
    samples = random_inputs(graph, count, seed=11)
    for sample, result in zip(samples, model.run(samples)):
        reference = run_reference(graph, sample, keep_intermediates=True)
        compared = [name for name in result["tensors"] if name in reference["tensors"]]
        # eliminate_dead_channels renames the tensors it shrinks: those have no reference twin
        assert len(compared) >= len([layer for layer in model.generated.layers if layer.output in graph.tensor_map]) - 1
        for name in compared:
            assert np.array_equal(reference["tensors"][name], result["tensors"][name]), f"tensor '{name}' differs"
        for expected, actual in zip(reference["outputs"], result["outputs"], strict=True):
            assert expected.dtype == actual.dtype and np.array_equal(expected, actual)


@pytest.mark.parametrize("weight_format", ["dense", "csr"])
@pytest.mark.parametrize("pruned", [False, True], ids=["shipped", "pruned90"])
@pytest.mark.parametrize("model_path", SHARED_MODELS, ids=[p.stem for p in SHARED_MODELS])
def test_fixture_bit_exact_on_host(model_path, pruned, weight_format, tmp_path):
    require_tools("gcc")
    graph = load_tflite(model_path)
    if pruned:
        graph = prune_by_magnitude(graph, 0.9)
    model = HostModel(graph, weight_format, work_dir=tmp_path)
    weighted = any(OP_DEFS[op.kind].weighted for op in graph.ops)  # the SEANet PAD / STRIDED_SLICE have none
    assert set(model.generated.formats.values()) == ({weight_format} if weighted else set())
    _assert_bit_exact(graph, model, INPUTS_PER_MODEL.get(model_path.stem, 3))


def test_pruned_csr_weights_are_smaller(fixtures_dir, tmp_path):
    """At 90 % sparsity CSR stores a tenth of the weight values; auto picks CSR for the big layers."""
    require_tools("gcc")
    graph = prune_by_magnitude(load_tflite(fixtures_dir / "mlperf_tiny_ic_resnet8_int8.tflite"), 0.9)
    dense = HostModel(graph, "dense", work_dir=tmp_path / "dense").generated
    auto = HostModel(graph, "auto", work_dir=tmp_path / "auto").generated
    assert auto.flash_bytes["weights"] < 0.15 * dense.flash_bytes["weights"]
    assert auto.flash_bytes["weights"] + auto.flash_bytes["indices"] < 0.5 * dense.flash_bytes["weights"]
    assert auto.arena_bytes == dense.arena_bytes


def test_host_backend_registered_for_verify(fixtures_dir):
    require_tools("gcc")
    graph = load_tflite(fixtures_dir / "hello_world_int8.tflite")
    assert get_backend("host") is host_backend
    (sample,) = random_inputs(graph, 1, seed=0)
    result = host_backend(graph, (fixtures_dir / "hello_world_int8.tflite").read_bytes(), sample)
    assert np.array_equal(result["outputs"][0], run_reference(graph, sample)["outputs"][0])
