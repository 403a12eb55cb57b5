"""`pqk-mcu bench`: JSON schema on a tiny model, deterministic counts, cost-model estimates vs measurement."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pqk_mcu.pipeline.bench import bench_graph
from pqk_mcu.cli import main
from pqk_mcu.exporters.tflite import save_tflite
from pqk_mcu.ir.builder import GraphBuilder


def _tiny(sparsity: float = 0.7):
    rng = np.random.default_rng(3)

    def weights(shape):
        w = rng.integers(-127, 128, size=shape).astype(np.int8)
        w[rng.random(shape) < sparsity] = 0
        return w

    b = GraphBuilder()
    x = b.input((1, 10, 6, 4), scale=0.1, zero_point=0)
    x = b.conv2d(x, weights((16, 3, 3, 4)), 0.004, None, 0.05, -128, stride=2, activation="RELU")
    x = b.depthwise_conv2d(x, weights((1, 3, 3, 16)), 0.01, None, 0.05, -128, activation="RELU")
    x = b.conv2d(x, weights((16, 1, 1, 16)), 0.006, None, 0.05, -128, activation="RELU")
    x = b.average_pool2d(x, (5, 3))
    x = b.reshape(x, (1, 16))
    return b.build(outputs=[b.fully_connected(x, weights((3, 16)), 0.01, None, 0.1, 0)])


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "tiny.tflite"
    save_tflite(_tiny(), path)
    return path


def test_bench_json_schema(tiny_model, tmp_path, toolchain):
    out = tmp_path / "bench.json"
    main(["bench", str(tiny_model), "--board", "cortex-m4", "--json", str(out)])
    data = json.loads(out.read_text())
    assert isinstance(data["instructions"], int) and data["instructions"] > 0
    assert isinstance(data["arena_bytes"], int) and isinstance(data["stack_bytes"], int) and data["stack_bytes"] > 0
    assert set(data["flash_bytes"]) >= {"kernels", "weights", "indices", "requant", "total"}
    assert data["flash_bytes"]["total"] >= sum(data["flash_bytes"][k] for k in ("kernels", "weights", "indices", "requant"))
    assert data["bit_exact"] is True
    assert [layer["op"] for layer in data["layers"]] == [
        "CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED"]
    for layer in data["layers"]:
        assert set(layer) >= {"name", "op", "format", "sparsity", "macs", "instructions", "estimated_m4_cycles",
                              "taken_branches", "instruction_classes"}
        assert isinstance(layer["instructions"], int)
        assert sum(layer["instruction_classes"].values()) == layer["instructions"]
    assert sum(layer["instructions"] for layer in data["layers"]) <= data["instructions"]
    # Every instruction takes at least a cycle; loads, multi-register transfers and branches more.
    assert data["estimated_m4_cycles"] > data["instructions"]
    assert sum(data["instruction_classes"].values()) == data["instructions"]
    assert sum(layer["estimated_m4_cycles"] for layer in data["layers"]) <= data["estimated_m4_cycles"]


def test_bench_counts_are_deterministic(toolchain):
    graph = _tiny(0.5)
    first, second = bench_graph(graph, "cortex-m4"), bench_graph(graph, "cortex-m4")
    assert first.to_json() == second.to_json()  # instructions, cycle estimates and classes, in total and per layer
    assert first.bit_exact and second.bit_exact


@pytest.mark.parametrize("weight_format", ["dense", "csr"])
def test_cost_model_estimates_track_measurement(toolchain, weight_format):
    """The fitted estimates of the chosen kernels stay within a factor of two of the QEMU counts on a
    model they were not fitted on (they only need to rank kernels, so a factor is the honest bound)."""
    result = bench_graph(_tiny(0.6), "cortex-m4", weight_format)
    for layer in result.layers:
        if layer["estimated_instructions"] and layer["op"] != "FULLY_CONNECTED":
            ratio = layer["estimated_instructions"] / layer["instructions"]
            assert 0.5 <= ratio <= 2.0, (layer["kernel"], layer["estimated_instructions"], layer["instructions"])
