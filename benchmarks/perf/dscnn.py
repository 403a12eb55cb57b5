"""DS-CNN of the MLPerf Tiny keyword-spotting benchmark, int8, with magnitude-pruned random weights.

Shape (MLPerf Tiny KWS reference): 49x10x1 MFCC input, CONV_2D 10x4 stride 2 to 64 channels,
4 x (DEPTHWISE_CONV_2D 3x3 + CONV_2D 1x1 64->64), each with ReLU, AVERAGE_POOL_2D over the 25x5 map,
FULLY_CONNECTED to 12 classes, SOFTMAX: 2.66 M multiply-accumulates.

The weights are NOT trained: float weights are drawn He-normal, quantized per output channel
(symmetric int8, as the TFLite converter does) and then magnitude-pruned per layer to the asked
sparsity (the smallest |w| of every weighted layer set to zero). Activation quantization is what a
converter would give such a network: ReLU outputs in [0, 6] (scale 6/255, zero point -128), the
input a symmetric-ish MFCC range. Speed and size do not depend on trained values, only on shapes,
sparsity and quantization, which is why random weights are a fair benchmark here.
"""

from __future__ import annotations

import numpy as np

from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.ir.graph import Graph
from pqk_mcu.ir.prune import prune_array

RELU_SCALE, RELU_ZERO_POINT = 6.0 / 255.0, -128
INPUT_SCALE, INPUT_ZERO_POINT = 0.25, 10
CHANNELS = 64
BLOCKS = 4
CLASSES = 12


def _quantized(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, channel_axis: int,
               sparsity: float) -> tuple[np.ndarray, list[float]]:
    """He-normal float weights -> per-channel symmetric int8 -> magnitude-pruned."""
    floats = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
    moved = np.moveaxis(floats, channel_axis, 0).reshape(shape[channel_axis], -1)
    scales = np.maximum(np.abs(moved).max(axis=1), 1e-6) / 127.0
    broadcast = [1] * len(shape)
    broadcast[channel_axis] = -1
    q = np.clip(np.round(floats / scales.reshape(broadcast)), -127, 127).astype(np.int8)
    return prune_array(q, sparsity), scales.tolist()


def _bias(rng: np.random.Generator, channels: int, input_scale: float, weight_scales: list[float]) -> np.ndarray:
    """A small float bias (about 0.1) in the int32 bias quantization input_scale * weight_scale."""
    floats = rng.normal(0.0, 0.1, size=channels)
    return np.round(floats / (input_scale * np.asarray(weight_scales))).astype(np.int32)


def dscnn_graph(sparsity: float = 0.0, seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    b.metadata("description", f"DS-CNN (MLPerf Tiny KWS shape), random He weights magnitude-pruned to {sparsity:.0%}")
    x = b.input((1, 49, 10, 1), scale=INPUT_SCALE, zero_point=INPUT_ZERO_POINT)

    w, scales = _quantized(rng, (CHANNELS, 10, 4, 1), 40 * 25.0, 0, sparsity)  # input std about 5 -> 1/25
    x = b.conv2d(x, w, scales, _bias(rng, CHANNELS, INPUT_SCALE, scales), RELU_SCALE, RELU_ZERO_POINT,
                 stride=2, padding="SAME", activation="RELU")
    for _ in range(BLOCKS):
        w, scales = _quantized(rng, (1, 3, 3, CHANNELS), 9, 3, sparsity)
        x = b.depthwise_conv2d(x, w, scales, _bias(rng, CHANNELS, RELU_SCALE, scales), RELU_SCALE,
                               RELU_ZERO_POINT, stride=1, padding="SAME", activation="RELU")
        w, scales = _quantized(rng, (CHANNELS, 1, 1, CHANNELS), CHANNELS, 0, sparsity)
        x = b.conv2d(x, w, scales, _bias(rng, CHANNELS, RELU_SCALE, scales), RELU_SCALE, RELU_ZERO_POINT,
                     stride=1, padding="SAME", activation="RELU")
    x = b.average_pool2d(x, (25, 5), stride=1, padding="VALID")
    x = b.reshape(x, (1, CHANNELS))
    w, _ = _quantized(rng, (CLASSES, CHANNELS), CHANNELS, 0, sparsity)  # per-tensor scale, as converters do for FC
    x = b.fully_connected(x, w, 0.5 / 127.0, None, 0.15, 0)
    return b.build(outputs=[b.softmax(x)])


def macs(graph: Graph) -> int:
    """Multiply-accumulates of the weighted layers (the 2.66 M of the benchmark)."""
    total = 0
    for op in graph.ops:
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            out = graph.tensor(op.outputs[0])
            weights = graph.tensor(op.inputs[1])
            per_output = weights.size // (weights.shape[0] if op.kind != "DEPTHWISE_CONV_2D" else weights.shape[-1])
            total += out.size * per_output
    return total
