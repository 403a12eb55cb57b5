"""IR pass eliminate_dead_channels: pruned FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D layers lose the output
channels whose weights are all zero (their constant value moves into the next layers' biases) and the channels
no next layer reads, also through depthwise convolutions and pools. FC chains with planted empty rows and
columns, per-tensor and per-channel, with and without ReLU, batches 1 and 3, convolutions as producers and as
1x1 / VALID readers, a MobileNet block, random chains (hypothesis): the reference gives the same outputs before
and after the pass (==), the shrunk tensors are renamed, what the pass may not touch stays, and pruned chains
run bit-exact on the host (layer by layer) and in QEMU.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pqk_mcu.codegen import generate_c
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.ir.passes import eliminate_dead_channels
from pqk_mcu.ir.verify import verify_graph
from pqk_mcu.reference import run_reference
from test_perf_kernels import _assert_bit_exact

INPUTS = 60


def _weights(rng, outputs, features, empty_rows=(), empty_columns=(), sparsity=0.6):
    w = rng.integers(-127, 128, size=(outputs, features)).astype(np.int8)
    w[rng.random(w.shape) < sparsity] = 0
    w[list(empty_rows)] = 0
    w[:, list(empty_columns)] = 0
    return w


def _scale(rng, outputs, per_channel):
    return list(rng.uniform(0.002, 0.02, outputs)) if per_channel else 0.008


def _fc_chain(seed, batches, per_channel, activation, keep_num_dims=False):
    """input 12 -> 10 -> 9 -> 7 -> 5 -> 3, planted empty rows and columns at every layer."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input((batches, 12), scale=0.05, zero_point=-3)
    sizes = (12, 10, 9, 7, 5, 3)
    for layer, (features, outputs) in enumerate(zip(sizes, sizes[1:])):
        rows = rng.choice(outputs, size=min(3, outputs - 1), replace=False)
        columns = rng.choice(features, size=2, replace=False) if layer else ()
        bias = rng.integers(-3000, 3000, outputs).astype(np.int32) if layer != 2 else None
        x = b.fully_connected(x, _weights(rng, outputs, features, rows, columns), _scale(rng, outputs, per_channel),
                              bias, 0.1, int(rng.integers(-20, 20)), activation=activation,
                              keep_num_dims=keep_num_dims)
    return b.build(outputs=[x])


def _conv_graph(seed, padding):
    """CONV_2D 3x3 SAME (empty output channels) -> CONV_2D 3x3 VALID or 1x1 SAME -> FC over a pooled pixel."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input((2, 6, 6, 3), scale=0.05, zero_point=4)
    filters = rng.integers(-127, 128, (8, 3, 3, 3)).astype(np.int8)
    filters[[1, 4, 5]] = 0
    x = b.conv2d(x, filters, _scale(rng, 8, True), rng.integers(-800, 800, 8).astype(np.int32), 0.1, -7,
                 padding="SAME", activation="RELU")
    size = 3 if padding == "VALID" else 1
    filters = rng.integers(-127, 128, (6, size, size, 8)).astype(np.int8)
    filters[..., 6] = 0  # a column no reader uses
    filters[2] = 0
    x = b.conv2d(x, filters, 0.01, rng.integers(-800, 800, 6).astype(np.int32), 0.2, 3, padding=padding)
    x = b.average_pool2d(x, 2, 2)
    return b.build(outputs=[x])


def _conv_into_fc_graph(seed):
    """CONV_2D 1x1 on a 1x1 input with empty output channels, read by an FC with keep_num_dims."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input((3, 1, 1, 9), scale=0.05, zero_point=0)
    filters = rng.integers(-127, 128, (11, 1, 1, 9)).astype(np.int8)
    filters[[0, 3, 10]] = 0
    x = b.conv2d(x, filters, _scale(rng, 11, False), rng.integers(-800, 800, 11).astype(np.int32), 0.1, 2,
                 padding="VALID", activation="RELU6")
    x = b.fully_connected(x, _weights(rng, 4, 11, (), (5,), sparsity=0.0), _scale(rng, 4, True), None, 0.2, -1,
                          keep_num_dims=True)
    return b.build(outputs=[x])


def _assert_same_outputs(before, after, count=INPUTS, seed=0):
    rng = np.random.default_rng(seed)
    shape = before.tensor(before.inputs[0]).shape
    for _ in range(count):
        x = rng.integers(-128, 128, size=shape, dtype=np.int8)
        expected, actual = run_reference(before, [x])["outputs"], run_reference(after, [x])["outputs"]
        assert [e.tolist() for e in expected] == [a.tolist() for a in actual]


def _weight_shapes(graph):
    return [graph.tensor(op.inputs[1]).shape for op in graph.ops
            if op.kind in ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D")]


def _channels(graph):
    return sum(shape[0] for shape in _weight_shapes(graph))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("batches", [1, 3])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("activation", ["NONE", "RELU"])
def test_fully_connected_chain_keeps_its_outputs(seed, batches, per_channel, activation):
    graph = _fc_chain(seed, batches, per_channel, activation, keep_num_dims=seed % 2 == 1)
    shrunk = eliminate_dead_channels(graph)
    verify_graph(shrunk)
    assert _channels(shrunk) < _channels(graph)
    assert shrunk.outputs == graph.outputs
    assert shrunk.tensor(graph.outputs[0]).shape == graph.tensor(graph.outputs[0]).shape
    _assert_same_outputs(graph, shrunk)
    assert eliminate_dead_channels(shrunk) is shrunk  # a fixed point


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("padding", ["VALID", "SAME"])
def test_convolutions_keep_their_outputs(seed, padding):
    graph = _conv_graph(seed, padding)
    shrunk = eliminate_dead_channels(graph)
    verify_graph(shrunk)
    # 3 empty filters and the unread column 6 leave 4 of the first layer's 8 channels
    assert _weight_shapes(shrunk)[0][0] == 4 and _weight_shapes(shrunk)[1][-1] == 4
    _assert_same_outputs(graph, shrunk)


@pytest.mark.parametrize("seed", range(4))
def test_convolution_read_by_fully_connected(seed):
    graph = _conv_into_fc_graph(seed)
    shrunk = eliminate_dead_channels(graph)
    assert _weight_shapes(shrunk) == [(7, 1, 1, 9), (4, 7)]  # 3 empty filters and the unread column 5 go
    assert len(shrunk.ops[1].inputs) == 3 and shrunk.ops[1].inputs[2]  # a bias made to fold into
    _assert_same_outputs(graph, shrunk)


def _mobilenet_block(seed, empty_depthwise=(1, 5, 6), unread=(0, 2, 9, 10, 11), pool=True, middle_output=False,
                     producer_sparsity=0.0):
    """1x1 conv 3 -> 12, 3x3 SAME depthwise (empty filters ``empty_depthwise``), average pool, then an FC with
    zero columns ``unread`` (person_detect's classifier), per-channel weights."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input((1, 4, 4, 3), scale=0.05, zero_point=-2)
    pointwise = rng.integers(1, 128, (12, 1, 1, 3)).astype(np.int8)
    pointwise[:, :, :, :2][rng.random((12, 1, 1, 2)) < producer_sparsity] = 0
    x = b.conv2d(x, pointwise, _scale(rng, 12, True),
                 rng.integers(-800, 800, 12).astype(np.int32), 0.1, -128, activation="RELU6")
    filters = rng.integers(-127, 128, (1, 3, 3, 12)).astype(np.int8)
    filters[..., list(empty_depthwise)] = 0
    depthwise = b.depthwise_conv2d(x, filters, _scale(rng, 12, True), rng.integers(-900, 900, 12).astype(np.int32),
                                   0.1, -128, padding="SAME", activation="RELU6")
    x = b.average_pool2d(depthwise, 4, 4) if pool else depthwise
    x = b.fully_connected(x, _weights(rng, 5, 12, (), unread, sparsity=0.0), _scale(rng, 5, True),
                          rng.integers(-900, 900, 5).astype(np.int32), 0.2, 3, keep_num_dims=True)
    return b.build(outputs=[depthwise, x] if middle_output else [x])


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("pool", [False, True])
def test_channels_removed_through_depthwise_and_pool(seed, pool):
    """The depthwise's 3 empty channels fold into the FC's bias when the FC reads the depthwise (not through the
    pool); the channels the FC does not read (5, or then 8) leave the 1x1 conv, the depthwise, the pool and the FC."""
    graph = _mobilenet_block(seed, pool=pool)
    shrunk = eliminate_dead_channels(graph)
    verify_graph(shrunk)
    channels = 7 if pool else 4
    assert _weight_shapes(shrunk) == [(channels, 1, 1, 3), (1, 3, 3, channels), (5, channels)]
    assert shrunk.ops[0].outputs[0] not in graph.tensor_map  # renamed
    _assert_same_outputs(graph, shrunk)


def test_removal_stops_at_a_tensor_read_elsewhere():
    graph = _mobilenet_block(0, middle_output=True)
    shrunk = eliminate_dead_channels(graph)
    assert _weight_shapes(shrunk) == _weight_shapes(graph)
    _assert_same_outputs(graph, shrunk)


@pytest.mark.parametrize("producer_sparsity,channels", [(0.0, 12), (1.0, 11)])
def test_fewer_than_four_unread_channels_stay_in_dense_layers(producer_sparsity, channels):
    """One unread channel of 12 stays where the producer is dense (its removal would leave a partial quad of
    channels, which costs dense kernels more), and goes where the producer is two thirds zero."""
    graph = _mobilenet_block(0, empty_depthwise=(), unread=(4,), producer_sparsity=producer_sparsity)
    shrunk = eliminate_dead_channels(graph)
    assert _weight_shapes(shrunk)[0] == (channels, 1, 1, 3)
    _assert_same_outputs(graph, shrunk)


def test_shrunk_tensors_get_new_names():
    graph = _fc_chain(0, 1, True, "NONE")
    shrunk = eliminate_dead_channels(graph)
    old = graph.tensor_map
    for tensor in shrunk.tensors:
        if tensor.name in old:
            assert tensor.shape == old[tensor.name].shape, tensor.name
    renamed = [op.outputs[0] for op in shrunk.ops if op.outputs[0] not in old]
    assert renamed  # the activations between the layers shrank


def test_dense_graph_is_left_as_it_is():
    rng = np.random.default_rng(1)
    b = GraphBuilder()
    x = b.input((1, 8), scale=0.05, zero_point=0)
    x = b.fully_connected(x, rng.integers(1, 128, (6, 8)).astype(np.int8), 0.01, None, 0.1, 0)
    x = b.fully_connected(x, rng.integers(1, 128, (4, 6)).astype(np.int8), 0.01, None, 0.1, 0)
    graph = b.build(outputs=[x])
    assert eliminate_dead_channels(graph) is graph


def _two_layers(reader, empty_row=1, bias=None, graph_output=False):
    """FC 4 -> 5 (row ``empty_row`` all zero) read by ``reader(b, x)``."""
    rng = np.random.default_rng(5)
    b = GraphBuilder()
    x = b.input((1, 4), scale=0.05, zero_point=0)
    w = rng.integers(1, 128, (5, 4)).astype(np.int8)
    w[empty_row] = 0
    hidden = b.fully_connected(x, w, 0.01, np.full(5, 5000, dtype=np.int32) if bias is None else bias, 0.05, 10)
    outputs = [reader(b, hidden)]
    if graph_output:
        outputs.append(hidden)
    return b.build(outputs=outputs)


def _fc_reader(b, x, weights=None):
    weights = np.full((3, 5), 100, dtype=np.int8) if weights is None else weights
    return b.fully_connected(x, weights, 0.01, np.zeros(3, dtype=np.int32), 0.1, 0)


def test_tensor_read_by_another_kind_of_op_is_left_alone():
    graph = _two_layers(lambda b, x: b.relu(x))
    assert eliminate_dead_channels(graph) is graph


def test_graph_output_keeps_its_channels():
    graph = _two_layers(_fc_reader, graph_output=True)
    shrunk = eliminate_dead_channels(graph)
    assert _weight_shapes(shrunk) == [(5, 4), (3, 5)]
    assert not shrunk.tensor(shrunk.ops[1].inputs[1]).data[:, 1].any()  # folded, not removed
    _assert_same_outputs(graph, shrunk)


@pytest.mark.parametrize("reader_bias,folds", [(0, True), (2**31 - 1000, False)])
def test_fold_that_would_overflow_int32_is_refused(reader_bias, folds):
    def reader(b, x):
        return b.fully_connected(x, np.full((3, 5), 127, dtype=np.int8), 0.01,
                                 np.full(3, reader_bias, dtype=np.int32), 0.1, 0)

    # channel 1 outputs the constant 127: its fold adds 5 * 127 * (127 - 10) to each reader bias
    graph = _two_layers(reader, bias=np.full(5, 10**6, dtype=np.int32))
    shrunk = eliminate_dead_channels(graph)
    assert (shrunk is not graph) == folds
    _assert_same_outputs(graph, shrunk)


@pytest.mark.parametrize("padding,shrinks", [("SAME", False), ("VALID", True)])
def test_padded_convolution_reader_is_left_alone(padding, shrinks):
    rng = np.random.default_rng(9)
    b = GraphBuilder()
    x = b.input((1, 5, 5, 2), scale=0.05, zero_point=0)
    filters = rng.integers(1, 128, (8, 3, 3, 2)).astype(np.int8)
    filters[[2, 5, 6, 7]] = 0
    x = b.conv2d(x, filters, 0.01, np.full(8, 3000, dtype=np.int32), 0.05, -5, padding="SAME")
    x = b.conv2d(x, rng.integers(1, 128, (3, 3, 3, 8)).astype(np.int8), 0.01, None, 0.1, 0, padding=padding)
    graph = b.build(outputs=[x])
    shrunk = eliminate_dead_channels(graph)
    assert (_weight_shapes(shrunk)[0][0] == 4) == shrinks
    _assert_same_outputs(graph, shrunk)


@st.composite
def pruned_chains(draw):
    """2 to 6 layers (FC with keep_num_dims, 1x1 / 3x3 VALID / 3x3 SAME convolutions, 3x3 depthwise, pools) on
    [N, H, W, C] tensors, weights up to 95% zero with whole rows and columns zero, per-tensor or per-channel,
    any activation and zero point; some layer outputs also graph outputs or read by a RELU (which the pass
    must leave alone)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    b = GraphBuilder()
    side = draw(st.integers(1, 7))
    x = b.input((draw(st.integers(1, 2)), side, side, draw(st.integers(1, 6))), scale=0.05,
                zero_point=draw(st.integers(-128, 127)))
    outputs = []
    for _ in range(draw(st.integers(2, 6))):
        _, height, width, channels = b.shape(x)
        kinds = ["fc", "conv1x1", "conv_same", "depthwise", "pool"]
        kinds += ["conv_valid"] if min(height, width) >= 3 else []
        kind, out_c = draw(st.sampled_from(kinds)), draw(st.integers(1, 16))
        if kind == "pool":
            size = 2 if min(height, width) >= 2 else 1
            pool = b.average_pool2d if draw(st.booleans()) else b.max_pool2d
            x = pool(x, size, size, padding=draw(st.sampled_from(("SAME", "VALID"))))
            continue
        if kind == "depthwise":
            w = rng.integers(-127, 128, size=(1, 3, 3, channels)).astype(np.int8)
            w[..., rng.random(channels) < draw(st.sampled_from((0.0, 0.3, 0.7)))] = 0
            padding = draw(st.sampled_from(("SAME", "VALID") if min(height, width) >= 3 else ("SAME",)))
            x = b.depthwise_conv2d(x, w, _scale(rng, channels, draw(st.booleans())),
                                   rng.integers(-5000, 5000, channels).astype(np.int32), 0.1,
                                   draw(st.integers(-128, 127)), padding=padding,
                                   activation=draw(st.sampled_from(("NONE", "RELU", "RELU6"))))
            continue
        size = 3 if kind in ("conv_valid", "conv_same") else 1
        w = rng.integers(-127, 128, size=(out_c, size, size, channels)).astype(np.int8)
        w[rng.random(w.shape) < draw(st.sampled_from((0.0, 0.5, 0.8, 0.95)))] = 0
        w[rng.random(out_c) < draw(st.sampled_from((0.0, 0.3, 0.7)))] = 0
        w[..., rng.random(channels) < draw(st.sampled_from((0.0, 0.5, 0.8)))] = 0  # columns
        scale = _scale(rng, out_c, draw(st.booleans()))
        bias = rng.integers(-5000, 5000, out_c).astype(np.int32) if draw(st.booleans()) else None
        out_zp, activation = draw(st.integers(-128, 127)), draw(st.sampled_from(("NONE", "RELU", "RELU6")))
        if kind == "fc":
            x = b.fully_connected(x, w.reshape(out_c, channels), scale, bias, 0.1, out_zp, activation=activation,
                                  keep_num_dims=True)
        else:
            x = b.conv2d(x, w, scale, bias, 0.1, out_zp, padding="SAME" if kind == "conv_same" else "VALID",
                         activation=activation)
        branch = draw(st.sampled_from(("none", "none", "none", "none", "output", "relu")))
        if branch == "output":
            outputs.append(x)
        elif branch == "relu":
            outputs.append(b.relu(x))
    return b.build(outputs=[*outputs, x])


@settings(max_examples=150, derandomize=True, database=None, deadline=None)
@given(pruned_chains(), st.integers(0, 2**32 - 1))
def test_random_pruned_chains_keep_their_outputs(graph, seed):
    shrunk = eliminate_dead_channels(graph)
    verify_graph(shrunk)
    _assert_same_outputs(graph, shrunk, count=8, seed=seed)
    assert eliminate_dead_channels(shrunk) is shrunk


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_shrunk_chain_bit_exact(tmp_path, toolchain, target):
    """The generated C of the shrunk graph equals the reference of the original graph."""
    graph = _fc_chain(3, 3, True, "RELU")
    generated = generate_c(graph, tmp_path / "gen", weight_format="auto", board="cortex-m4")
    assert _channels(generated.graph) < _channels(graph)
    _assert_bit_exact(generated, target, tmp_path, reference_graph=graph)


@pytest.mark.parametrize("sparsity", [0.9, 0.99])
def test_pruned_chain_bit_exact_on_host_layer_by_layer(tmp_path, toolchain, sparsity):
    """Convolutions, depthwise, a flattening RESHAPE and FCs: the generated C of the shrunk graph against the
    reference of the original, output and every tensor both have by name."""
    from test_codegen_sparse import _check_host, weighted_chain

    graph = weighted_chain(sparsity)
    model = _check_host(graph, "auto", tmp_path, count=4)
    assert _channels(model.generated.graph) < _channels(graph)
