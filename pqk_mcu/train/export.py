"""Trained student -> int8 IR ``Graph`` (-> ``.tflite``), and a PyTorch integer simulation of it.

The student's layers (``pqk_mcu.train.layers``) become ops one by one: batch norm folded into the
convolution, per-channel symmetric int8 weights (``qat.quantize_weight``: the very codes the QAT
forward used), int32 biases at scale input*weight, activation scale/zero point from the frozen
observers. The graph input is int8 with the input observer's quantization; the output is the
int8 logits (no SOFTMAX: argmax is the same, and apps dequantize if they need scores).

``simulate_int8`` runs the same quantized numbers through PyTorch: int8 NHWC arrays, exact integer
accumulation (float64 convolutions of integers; every partial sum is far below 2^53) and the
requantization of ``pqk_mcu.quant``. It is written from the layers, not from the graph, so comparing
it with ``pqk_mcu.reference.run_reference`` on the exported graph (``check_export``) checks the
export's layouts, padding, multipliers and op semantics; the two agree bit for bit.

Both walk the model by calling its ``forward`` with a non-tensor value: each layer hands itself to
the value's ``visit``, so export and simulation follow exactly the model's own dataflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pqk_mcu.errors import PqkError
from pqk_mcu.ir.builder import GraphBuilder
from pqk_mcu.ir.graph import Graph
from pqk_mcu.ir.opdef import OP_DEFS
from pqk_mcu.quant import (
    INT32_MAX,
    INT32_MIN,
    INT8_MAX,
    INT8_MIN,
    activation_range,
    add_params,
    affine_quantize_array,
    conv_multipliers,
    fully_connected_multiplier,
    multiply_by_quantized_multiplier_array,
    tflite_round,
)
from pqk_mcu.reference import run_reference
from pqk_mcu.train.layers import ACTIVATIONS, Add, AvgPool, ConvBN, InputQuant, Linear, Reshape, set_view, tf_same_padding
from pqk_mcu.train.qat import quantize_weight


@dataclass(frozen=True)
class QuantizedLayer:
    """Integer form of a ConvBN or Linear layer, weights still in PyTorch layout."""

    weights: np.ndarray  # int8: conv (O, I, kh, kw), depthwise (C, 1, kh, kw), FC (O, I)
    weight_scales: np.ndarray  # float32, one per output channel (conv) or one (FC)
    bias: np.ndarray  # int32
    output_scale: float
    output_zero_point: int
    activation: str  # IR name: NONE / RELU / RELU6


def quantize_bias(bias: np.ndarray, input_scale: float, weight_scales: np.ndarray) -> np.ndarray:
    """int32 bias at scale float32(input_scale * weight_scale), the scale the graph records."""
    scales = np.float32(input_scale) * np.asarray(weight_scales, dtype=np.float32)
    scales = np.broadcast_to(scales, np.shape(bias))
    codes = [tflite_round(float(b) / float(s)) for b, s in zip(np.asarray(bias, dtype=np.float64), scales)]
    return np.clip(np.array(codes, dtype=np.int64), INT32_MIN, INT32_MAX).astype(np.int32)


@torch.no_grad()
def quantize_layer(layer: ConvBN | Linear, input_scale: float) -> QuantizedLayer:
    if isinstance(layer, ConvBN):
        weight, bias = layer.folded()
    else:
        weight, bias = layer.weight * layer.mask, layer.bias
    codes, scales = quantize_weight(weight, per_channel=layer.per_channel)
    scales = scales.numpy().astype(np.float32)
    out_scale, out_zero_point = layer.out_observer.qparams()
    return QuantizedLayer(
        weights=codes.numpy().astype(np.int8),
        weight_scales=scales,
        bias=quantize_bias(bias.numpy(), input_scale, scales),
        output_scale=out_scale,
        output_zero_point=out_zero_point,
        activation=ACTIVATIONS[layer.activation],
    )


# --------------------------------------------------------------------------------------------
# Export to the IR.


class _Symbolic:
    """A tensor of the graph under construction."""

    def __init__(self, builder: GraphBuilder, name: str) -> None:
        self.builder = builder
        self.name = name

    @property
    def scale(self) -> float:
        return self.builder.quant(self.name).scale[0]

    def _next(self, name: str) -> "_Symbolic":
        return _Symbolic(self.builder, name)

    def visit(self, layer: nn.Module, *others):
        b = self.builder
        if isinstance(layer, InputQuant):
            return self
        if isinstance(layer, ConvBN):
            q = quantize_layer(layer, self.scale)
            common = dict(out_scale=q.output_scale, out_zero_point=q.output_zero_point, stride=layer.stride,
                          padding="SAME", activation=q.activation)
            if layer.depthwise:
                weights = q.weights.transpose(1, 2, 3, 0)  # (C,1,kh,kw) -> 1HWC
                return self._next(b.depthwise_conv2d(self.name, weights, q.weight_scales.tolist(), q.bias, **common))
            weights = q.weights.transpose(0, 2, 3, 1)  # OIHW -> OHWI
            return self._next(b.conv2d(self.name, weights, q.weight_scales.tolist(), q.bias, **common))
        if isinstance(layer, Linear):
            q = quantize_layer(layer, self.scale)
            return self._next(b.fully_connected(self.name, q.weights, float(q.weight_scales[0]), q.bias,
                                                q.output_scale, q.output_zero_point, activation=q.activation))
        if isinstance(layer, Add):
            scale, zero_point = layer.out_observer.qparams()
            return self._next(b.add(self.name, others[0].name, scale, zero_point, ACTIVATIONS[layer.activation]))
        if isinstance(layer, AvgPool):
            _, height, width, _ = b.shape(self.name)
            window = layer.window_for(height, width)
            return self._next(b.average_pool2d(self.name, window, stride=window, padding="VALID"))
        if isinstance(layer, Reshape):
            return self._next(b.reshape(self.name, (1, *layer.shape)))
        raise PqkError(f"cannot export layer {type(layer).__name__}")


def input_qparams(model: nn.Module) -> tuple[float, int]:
    (input_quant,) = [m for m in model.modules() if isinstance(m, InputQuant)]
    return input_quant.out_observer.qparams()


def build_graph(model: nn.Module, class_names: tuple[str, ...] = (), metadata: dict[str, str] | None = None) -> Graph:
    """The student as a verified int8 Graph; class names go to metadata ``pqk_labels``."""
    model.eval()
    set_view(model, "student")
    builder = GraphBuilder()
    scale, zero_point = input_qparams(model)
    try:
        name = builder.input((1, *model.input_shape), scale, zero_point, name="input")
        output = model(_Symbolic(builder, name))
    except RuntimeError as error:  # an observer that never saw data: the model was not trained with QAT
        raise PqkError(f"cannot export: {error} (train with int8 quantization first)") from None
    if class_names:
        builder.metadata("pqk_labels", ",".join(class_names))
    for key, value in (metadata or {}).items():
        builder.metadata(key, str(value))
    return builder.build(outputs=[output.name])


def graph_sparsity(graph: Graph) -> float:
    """Fraction of zero weights over all CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED weights."""
    tensors = graph.tensor_map
    weights = [tensors[op.inputs[1]].data for op in graph.ops if OP_DEFS[op.kind].weighted]
    total = sum(w.size for w in weights)
    return float(sum(int((w == 0).sum()) for w in weights)) / max(total, 1)


# --------------------------------------------------------------------------------------------
# Integer simulation in PyTorch.


class _IntValue:
    """An int8 activation (NHWC numpy array) with its quantization."""

    def __init__(self, codes: np.ndarray, scale: float, zero_point: int) -> None:
        self.codes = codes
        self.scale = scale
        self.zero_point = zero_point

    def centered_nchw(self) -> torch.Tensor:
        return torch.from_numpy(self.codes.astype(np.float64) - self.zero_point).permute(0, 3, 1, 2)

    def visit(self, layer: nn.Module, *others):
        if isinstance(layer, InputQuant):
            return self
        if isinstance(layer, ConvBN):
            return self._conv(layer)
        if isinstance(layer, Linear):
            q = quantize_layer(layer, self.scale)
            centered = torch.from_numpy(self.codes.astype(np.float64) - self.zero_point)
            acc = F.linear(centered, torch.from_numpy(q.weights.astype(np.float64))).numpy()
            multiplier, shift = fully_connected_multiplier(self.scale, float(q.weight_scales[0]), q.output_scale)
            return self._requantize(acc, q.bias, multiplier, shift, q)
        if isinstance(layer, Add):
            return self._add(layer, others[0])
        if isinstance(layer, AvgPool):
            return self._avg_pool(layer)
        if isinstance(layer, Reshape):
            return _IntValue(self.codes.reshape(self.codes.shape[0], *layer.shape), self.scale, self.zero_point)
        raise PqkError(f"cannot simulate layer {type(layer).__name__}")

    def _conv(self, layer: ConvBN) -> "_IntValue":
        q = quantize_layer(layer, self.scale)
        x = self.centered_nchw()
        top, bottom = tf_same_padding(x.shape[2], layer.kernel[0], layer.stride[0])
        left, right = tf_same_padding(x.shape[3], layer.kernel[1], layer.stride[1])
        x = F.pad(x, (left, right, top, bottom))  # zeros in the centered domain = the zero point
        groups = x.shape[1] if layer.depthwise else 1
        acc = F.conv2d(x, torch.from_numpy(q.weights.astype(np.float64)), stride=layer.stride, groups=groups)
        multiplier, shift = conv_multipliers(self.scale, q.weight_scales.tolist(), q.output_scale)
        return self._requantize(acc.permute(0, 2, 3, 1).numpy(), q.bias, multiplier, shift, q)

    @staticmethod
    def _requantize(acc: np.ndarray, bias: np.ndarray, multiplier, shift, q: QuantizedLayer) -> "_IntValue":
        total = np.rint(acc).astype(np.int64) + bias.astype(np.int64)
        low, high = activation_range(q.activation, q.output_scale, q.output_zero_point)
        scaled = multiply_by_quantized_multiplier_array(total, multiplier, shift).astype(np.int64)
        codes = np.clip(scaled + q.output_zero_point, low, high).astype(np.int8)
        return _IntValue(codes, q.output_scale, q.output_zero_point)

    def _add(self, layer: Add, other: "_IntValue") -> "_IntValue":
        out_scale, out_zero_point = layer.out_observer.qparams()
        p = add_params(self.scale, other.scale, out_scale)

        def rescaled(value: _IntValue, multiplier: int, shift: int) -> np.ndarray:
            shifted = (value.codes.astype(np.int64) - value.zero_point) * (1 << p.left_shift)
            return multiply_by_quantized_multiplier_array(shifted, multiplier, shift).astype(np.int64)

        raw_sum = rescaled(self, p.input1_multiplier, p.input1_shift) + rescaled(other, p.input2_multiplier, p.input2_shift)
        raw = multiply_by_quantized_multiplier_array(raw_sum, p.output_multiplier, p.output_shift).astype(np.int64)
        low, high = activation_range(ACTIVATIONS[layer.activation], out_scale, out_zero_point)
        return _IntValue(np.clip(raw + out_zero_point, low, high).astype(np.int8), out_scale, out_zero_point)

    def _avg_pool(self, layer: AvgPool) -> "_IntValue":
        n, height, width, channels = self.codes.shape
        win_h, win_w = layer.window_for(height, width)
        out_h, out_w = (height - win_h) // win_h + 1, (width - win_w) // win_w + 1
        windows = self.codes[:, : out_h * win_h, : out_w * win_w].astype(np.int64)
        total = windows.reshape(n, out_h, win_h, out_w, win_w, channels).sum(axis=(2, 4))
        count, half = win_h * win_w, (win_h * win_w) // 2
        # Round half away from zero with C's truncating division, as the int8 kernel does.
        average = np.where(total > 0, (total + half) // count, -((half - total) // count))
        return _IntValue(np.clip(average, INT8_MIN, INT8_MAX).astype(np.int8), self.scale, self.zero_point)


def quantize_input(model: nn.Module, features: np.ndarray) -> np.ndarray:
    """float32 NHWC features -> the graph's int8 input (TFLite QUANTIZE arithmetic)."""
    scale, zero_point = input_qparams(model)
    return affine_quantize_array(features, scale, zero_point)


@torch.no_grad()
def simulate_int8(model: nn.Module, codes: np.ndarray) -> np.ndarray:
    """int8 NHWC inputs (N, H, W, C) -> int8 logits (N, classes), integer arithmetic only."""
    model.eval()
    set_view(model, "student")
    scale, zero_point = input_qparams(model)
    return model(_IntValue(np.asarray(codes, dtype=np.int8), scale, zero_point)).codes


def int8_accuracy(model: nn.Module, features: np.ndarray, labels: np.ndarray, batch_size: int = 256) -> float:
    """Test accuracy of the integer model (what the exported .tflite computes)."""
    correct = 0
    for start in range(0, len(labels), batch_size):
        logits = simulate_int8(model, quantize_input(model, features[start : start + batch_size]))
        correct += int((logits.argmax(axis=1) == labels[start : start + batch_size]).sum())
    return correct / max(len(labels), 1)


def check_export(graph: Graph, model: nn.Module, features: np.ndarray) -> dict[str, int]:
    """Run the reference interpreter on ``graph`` and ``simulate_int8`` on ``features``; count agreement.

    Returns ``{"examples": n, "bit_exact": k}``; k == n means every output byte matched.
    """
    codes = quantize_input(model, features)
    simulated = simulate_int8(model, codes)
    matches = 0
    for example, expected in zip(codes, simulated):
        (output,) = run_reference(graph, [example[None]])["outputs"]
        matches += int(np.array_equal(output.reshape(-1), expected.reshape(-1)))
    return {"examples": int(len(codes)), "bit_exact": matches}
