"""CSR and dense generated C agree with the reference (and so with each other) on odd shapes.

Small graphs from ``GraphBuilder`` cover 1x1 and 3x3 convolutions, channel counts that are not
multiples of 4, stride / padding / dilation mixes, depth multipliers, 16-bit column indices and
32-bit row pointers, at weight sparsities 0, 50, 90 and 99 %. A second graph exercises every other
op the runtime implements. Every host build runs under ASan/UBSan.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require_tools
from pqk_mcu.codegen.memory import MemoryRequest, plan_memory
from pqk_mcu.codegen.cost_model import Layout, Target, choose_kernel
from pqk_mcu.codegen.weights import encode_csr
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.reference import run_reference
from pqk_mcu.pipeline.host import HostModel
from pqk_mcu.verify import random_inputs

SPARSITIES = (0.0, 0.5, 0.9, 0.99)


def _sparse_weights(rng: np.random.Generator, shape: tuple[int, ...], sparsity: float) -> np.ndarray:
    weights = rng.integers(-127, 128, size=shape).astype(np.int8)
    weights[weights == 0] = 1
    drop = rng.permutation(weights.size)[: int(round(sparsity * weights.size))]
    weights.reshape(-1)[drop] = 0
    return weights


def _bias(rng: np.random.Generator, channels: int) -> np.ndarray:
    return rng.integers(-2000, 2000, size=channels).astype(np.int32)


def weighted_chain(sparsity: float, seed: int = 0):
    """conv 3x3/2 SAME 3->5, depthwise x2 dilated, 1x1 conv, dilated VALID stride mix, wide FC, FC."""
    rng = np.random.default_rng(seed)
    w = lambda *shape: _sparse_weights(rng, shape, sparsity)  # noqa: E731
    b = GraphBuilder()
    x = b.input((1, 9, 11, 3), scale=0.05, zero_point=-3)
    x = b.conv2d(x, w(5, 3, 3, 3), [0.01, 0.02, 0.015, 0.03, 0.012], _bias(rng, 5), 0.08, 4, stride=2,
                 padding="SAME", activation="RELU")
    x = b.depthwise_conv2d(x, w(1, 3, 3, 10), 0.02, _bias(rng, 10), 0.07, -5, stride=1, padding="SAME",
                           dilation=2)
    x = b.conv2d(x, w(7, 1, 1, 10), 0.02, _bias(rng, 7), 0.1, 0, stride=1, padding="VALID",
                 activation="RELU6")
    x = b.conv2d(x, w(6, 2, 3, 7), 0.01, None, 0.09, 3, stride=(1, 2), padding="VALID", dilation=(2, 1))
    x = b.depthwise_conv2d(x, w(1, 2, 2, 6), [0.01, 0.02, 0.03, 0.01, 0.02, 0.03], _bias(rng, 6), 0.05, 1,
                           stride=2, padding="SAME")
    x = b.reshape(x, (1, -1))
    x = b.fully_connected(x, w(300, b.shape(x)[-1]), 0.01, _bias(rng, 300), 0.2, -7, activation="RELU")
    x = b.fully_connected(x, w(300, 300), 0.003, _bias(rng, 300), 0.15, 2)
    x = b.fully_connected(x, w(10, 300), 0.01, None, 0.25, -1)
    return b.build([b.softmax(x)])


def other_ops_graph():
    """Pools, ADD/MUL with broadcasting, PAD, MEAN, CONCATENATION, LUT ops, standalone RELU, QUANTIZE."""
    rng = np.random.default_rng(7)
    b = GraphBuilder()
    x = b.input((1, 7, 6, 5), scale=0.04, zero_point=2)
    c = b.conv2d(x, _sparse_weights(rng, (6, 3, 3, 5), 0.3), 0.02, _bias(rng, 6), 0.06, -2)
    r = b.relu(c)  # fused into the conv by the passes
    a = b.average_pool2d(r, 3, stride=2, padding="SAME")
    m = b.max_pool2d(r, (2, 3), stride=(2, 1), padding="VALID", activation="RELU")
    p = b.pad(x, [[0, 0], [1, 0], [0, 2], [0, 1]])
    row = b.mean(r, [1, 2], keep_dims=True, out_scale=0.05, out_zero_point=-4)
    added = b.add(a, row, 0.09, 1)  # broadcast [1,1,1,6] over [1,4,3,6]
    product = b.mul(added, a, 0.2, -3, activation="RELU")
    same_mean = b.mean(p, [2], keep_dims=False, out_scale=0.04, out_zero_point=2)
    joined = b.concatenation([a, b.max_pool2d(r, 3, stride=2, padding="SAME")], axis=3)
    lut = b.logistic(b.add(joined, b.concatenation([product, product], axis=3), 0.1, 0))
    tanh = b.tanh(b.quantize(same_mean, 0.03, -1))
    unfused = b.relu6(b.max_pool2d(m, 1))
    return b.build([lut, tanh, b.relu(unfused, out_scale=0.05, out_zero_point=-10)])


def _check_host(graph, weight_format: str, tmp_path, count: int = 2) -> HostModel:
    model = HostModel(graph, weight_format, work_dir=tmp_path / weight_format)
    samples = random_inputs(graph, count, seed=3)
    for sample, result in zip(samples, model.run(samples)):
        reference = run_reference(graph, sample, keep_intermediates=True)
        for expected, actual in zip(reference["outputs"], result["outputs"]):
            assert np.array_equal(expected, actual)
        for name, actual in result["tensors"].items():
            if name in reference["tensors"]:
                assert np.array_equal(reference["tensors"][name], actual), name
    return model


@pytest.mark.parametrize("sparsity", SPARSITIES)
def test_csr_and_dense_bit_exact_on_odd_shapes(sparsity, tmp_path, without_dead_channel_elimination):
    require_tools("gcc")
    graph = weighted_chain(sparsity)
    dense = _check_host(graph, "dense", tmp_path)
    csr = _check_host(graph, "csr", tmp_path)
    assert set(dense.generated.formats.values()) == {"dense"}
    assert set(csr.generated.formats.values()) == {"csr"}
    if sparsity >= 0.9:
        assert csr.generated.flash_bytes["weights"] < dense.generated.flash_bytes["weights"] * (1.0 - sparsity + 0.02)


def test_other_ops_bit_exact(tmp_path):
    require_tools("gcc")
    model = _check_host(other_ops_graph(), "auto", tmp_path, count=3)
    kernels = {layer.kernel for layer in model.generated.layers}
    assert {"pqk_avg_pool2d_s8", "pqk_max_pool2d_s8", "pqk_add_s8_lut", "pqk_mul_s8", "pqk_pad_s8", "pqk_mean_s8",
            "pqk_concatenation_s8", "pqk_lut_s8"} <= kernels
    # The RELU right after the conv was fused away; the ones after pooling stayed.
    assert [layer.op for layer in model.generated.layers].count("RELU") == 1


def test_csr_encoding_round_trips_with_narrow_index_types():
    rng = np.random.default_rng(1)
    narrow = _sparse_weights(rng, (4, 256), 0.9)
    csr = encode_csr(narrow)
    assert csr.columns.dtype == np.uint8 and csr.row_ptr.dtype == np.uint16
    assert np.array_equal(csr.to_dense(), narrow)
    wide = _sparse_weights(rng, (300, 300), 0.0)
    csr = encode_csr(wide)
    assert csr.columns.dtype == np.uint16 and csr.row_ptr.dtype == np.uint32
    assert np.array_equal(csr.to_dense(), wide)
    empty = encode_csr(np.zeros((3, 5), dtype=np.int8))
    assert empty.values.size == 0 and list(empty.row_ptr) == [0, 0, 0, 0]


def test_cost_model_prefers_csr_only_when_sparse_enough():
    rng = np.random.default_rng(2)
    layout = Layout(kind="CONV_2D", positions=100, filter_h=3, filter_w=3, input_c=64, input_w=10)

    def choose(matrix, weight_format="auto"):
        return choose_kernel(matrix, "pqk_conv2d_s8", layout, weight_format, Target(), fast_requant=False)

    dense_choice = choose(_sparse_weights(rng, (64, 576), 0.0))
    sparse_choice = choose(_sparse_weights(rng, (64, 576), 0.9))
    assert (dense_choice.format, dense_choice.kernel) == ("dense", "pqk_conv2d_s8")
    assert (sparse_choice.format, sparse_choice.kernel) == ("csr", "pqk_conv2d_s8_csr")
    assert choose(_sparse_weights(rng, (8, 8), 0.0), "csr").format == "csr"


def test_memory_plan_never_overlaps_live_buffers():
    # a -> op0 -> b -> op1 -> c; op2 reads a and c (a stays live), writes d (output).
    request = MemoryRequest(
        sizes={"in": 10, "a": 100, "b": 60, "c": 40, "d": 8, "r": 40},
        op_inputs=[["in"], ["a"], ["b"], ["a", "c"], ["c"]],
        op_outputs=[["a"], ["b"], ["c"], ["d"], ["r"]],
        graph_inputs=["in"],
        graph_outputs=["d"],
        aliases=[("r", "c")],
    )
    plan = plan_memory(request)
    lifetimes = {"a": (0, 3), "b": (1, 2), "c": (2, 4)}
    for first in lifetimes:
        for second in lifetimes:
            if first < second and not (lifetimes[first][1] < lifetimes[second][0] or lifetimes[second][1] < lifetimes[first][0]):
                p, q = plan.placements[first], plan.placements[second]
                assert p.offset + request.sizes[first] <= q.offset or q.offset + request.sizes[second] <= p.offset
    assert plan.placements["in"].region == "input" and plan.placements["d"].region == "output"
    assert plan.placements["r"] == plan.placements["c"] and "r" in plan.aliased
    assert plan.arena_bytes == 200  # a (100) + b (60) + c (40): all three are live during op 2
