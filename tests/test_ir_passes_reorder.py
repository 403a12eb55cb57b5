"""IR pass pair_hidden_units: the units of a hidden FULLY_CONNECTED -> FULLY_CONNECTED tensor are permuted so
the readers' nonzero weights form more adjacent column pairs. FC chains with planted co-occurring columns,
per-tensor and per-channel, with and without ReLU, batches 1 and 3, keep_num_dims, two readers of one
tensor: the reference gives the same outputs before and after the pass (==), more pairs, the permuted
tensors renamed, the model input's and output's order kept, dense graphs and tensors read by other ops left
alone, the same bytes on every run; the swap search's gains against a recount; a pruned chain bit-exact on
the host and in QEMU.
"""

from __future__ import annotations

import numpy as np
import pytest

from pqk_mcu.codegen import generate_c
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.ir.passes import _run_lengths, _run_pairs, _swap_gains, pair_hidden_units
from pqk_mcu.ir.verify import verify_graph
from test_ir_passes_dead_channels import _assert_same_outputs, _scale
from test_perf_kernels import _assert_bit_exact

SIZES = (12, 24, 20, 16, 5)  # input, three hidden tensors, output


def _planted_weights(rng, outputs, features, sparsity=0.8):
    """Sparse weights whose columns come in scattered partners: where a row has one, most often it has both."""
    w = rng.integers(-127, 128, size=(outputs, features)).astype(np.int8)
    w[w == 0] = 1
    keep = rng.random(w.shape) >= sparsity
    partners = rng.permutation(features)
    for row in range(outputs):
        for a, b in zip(partners[::2], partners[1::2]):
            if keep[row, a] or keep[row, b]:
                keep[row, a] = keep[row, b] = rng.random() < 0.9
    w[~keep] = 0
    return w


def _fc_chain(seed, batches=1, per_channel=False, activation="NONE", keep_num_dims=False, sizes=SIZES):
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input((batches, sizes[0]), scale=0.05, zero_point=-3)
    for features, outputs in zip(sizes, sizes[1:]):
        bias = rng.integers(-3000, 3000, outputs).astype(np.int32) if rng.random() < 0.7 else None
        x = b.fully_connected(x, _planted_weights(rng, outputs, features), _scale(rng, outputs, per_channel), bias,
                              0.1, int(rng.integers(-20, 20)), activation=activation, keep_num_dims=keep_num_dims)
    return b.build(outputs=[x])


def _fc_weights(graph):
    return [graph.tensor(op.inputs[1]).data for op in graph.ops if op.kind == "FULLY_CONNECTED"]


def _pairs(graph):
    return [int(_run_pairs(w != 0).sum()) for w in _fc_weights(graph)]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("batches", [1, 3])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("activation", ["NONE", "RELU"])
def test_fully_connected_chain_keeps_its_outputs(seed, batches, per_channel, activation):
    graph = _fc_chain(seed, batches, per_channel, activation, keep_num_dims=seed % 2 == 1)
    reordered = pair_hidden_units(graph)
    verify_graph(reordered)
    before, after = _pairs(graph), _pairs(reordered)
    assert after[0] == before[0]  # its columns are the model input's
    assert all(a >= b for a, b in zip(after[1:], before[1:])) and sum(after) > sum(before)
    assert reordered.inputs == graph.inputs and reordered.outputs == graph.outputs
    _assert_same_outputs(graph, reordered, count=100, seed=seed)


def test_model_input_and_output_keep_their_order():
    graph = _fc_chain(0)
    reordered = pair_hidden_units(graph)
    first, *_, last = _fc_weights(graph)
    first_after, *_, last_after = _fc_weights(reordered)
    # the first layer's columns (model input) stay; the last layer's rows (model output) stay as rows
    assert sorted(map(bytes, first_after)) == sorted(map(bytes, first)) and not np.array_equal(first_after, first)
    assert [sorted(row.tolist()) for row in last_after] == [sorted(row.tolist()) for row in last]


def test_permuted_tensors_get_new_names():
    graph = _fc_chain(1, per_channel=True)
    reordered = pair_hidden_units(graph)
    old = graph.tensor_map
    hidden = [op.outputs[0] for op in reordered.ops[:-1]]
    assert all(name not in old for name in hidden)
    assert reordered.ops[-1].outputs[0] in old
    for op, old_op in zip(reordered.ops, graph.ops):  # changed weights renamed, per-channel scales along
        weights, old_weights = reordered.tensor(op.inputs[1]), old[old_op.inputs[1]]
        assert weights.name == old_weights.name or weights.name.endswith("/reordered")
        assert sorted(weights.quant.scale) == sorted(old_weights.quant.scale)


def test_same_output_bytes_every_time():
    first, second = pair_hidden_units(_fc_chain(2)), pair_hidden_units(_fc_chain(2))
    assert [t.name for t in first.tensors] == [t.name for t in second.tensors]
    assert all(a.data is None and b.data is None or a.data.tobytes() == b.data.tobytes()
               for a, b in zip(first.tensors, second.tensors))


def test_two_readers_of_one_tensor():
    rng = np.random.default_rng(3)
    b = GraphBuilder()
    x = b.input((2, 10), scale=0.05, zero_point=0)
    hidden = b.fully_connected(x, _planted_weights(rng, 18, 10), 0.01, None, 0.1, -4, activation="RELU")
    left = b.fully_connected(hidden, _planted_weights(rng, 7, 18), _scale(rng, 7, True), None, 0.2, 1)
    right = b.fully_connected(hidden, _planted_weights(rng, 9, 18), 0.01, None, 0.2, -1, keep_num_dims=True)
    graph = b.build(outputs=[left, right])
    reordered = pair_hidden_units(graph)
    assert sum(_pairs(reordered)[1:]) > sum(_pairs(graph)[1:])
    _assert_same_outputs(graph, reordered, count=100)


def test_dense_graph_is_left_as_it_is():
    rng = np.random.default_rng(1)
    b = GraphBuilder()
    x = b.input((1, 8), scale=0.05, zero_point=0)
    x = b.fully_connected(x, rng.integers(-127, 128, (16, 8)).astype(np.int8), 0.01, None, 0.1, 0)
    w = rng.integers(-127, 128, (4, 16)).astype(np.int8)
    w[rng.random(w.shape) < 0.4] = 0  # a few zeros: still more than half nonzero, the dense kernels' layer
    x = b.fully_connected(x, w, 0.01, None, 0.1, 0)
    graph = b.build(outputs=[x])
    assert pair_hidden_units(graph) is graph


def test_graph_output_and_other_readers_are_left_alone():
    rng = np.random.default_rng(4)
    b = GraphBuilder()
    x = b.input((1, 8), scale=0.05, zero_point=0)
    output = b.fully_connected(x, _planted_weights(rng, 16, 8), 0.01, None, 0.1, 0)
    read_by_relu = b.fully_connected(x, _planted_weights(rng, 16, 8), 0.01, None, 0.1, 0)
    outputs = [b.fully_connected(name, _planted_weights(rng, 4, 16), 0.01, None, 0.1, 0)
               for name in (output, read_by_relu)]
    graph = b.build(outputs=[output, b.relu(read_by_relu), *outputs])
    assert pair_hidden_units(graph) is graph


def test_swap_gains_match_a_recount():
    rng = np.random.default_rng(7)
    for _ in range(200):
        placed = rng.random((int(rng.integers(1, 6)), int(rng.integers(1, 12)))) < rng.random()
        runs = _run_lengths(placed)
        for p in range(placed.shape[1]):
            gains = _swap_gains(placed, runs, p)
            for q in range(p + 1, placed.shape[1]):
                swapped = placed.copy()
                swapped[:, [p, q]] = swapped[:, [q, p]]
                assert gains[q] == _run_pairs(swapped).sum() - _run_pairs(placed).sum()


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_reordered_chain_bit_exact(tmp_path, toolchain, target):
    """The generated C of the reordered graph (pairs kernel) equals the reference of the original graph."""
    graph = _fc_chain(5, batches=3, per_channel=True, activation="RELU", sizes=(12, 40, 36, 5))
    generated = generate_c(graph, tmp_path / "gen", weight_format="auto", board="cortex-m4")
    assert any(name.endswith("/reordered") for name in generated.graph.tensor_map)
    _assert_bit_exact(generated, target, tmp_path, reference_graph=graph)
