"""Build quantized graphs in code (tests, fuzzing, the PQK checkpoint frontend).

Each method adds one op and returns the name of its output tensor. Output shapes come from
``pqk_mcu.ir.shapes``; bias scales are set to input_scale * weight_scale as TFLite requires;
ops whose int8 kernels do not rescale (pooling, reshape, pad, concatenation) reuse their input's
quantization. ``build`` returns a verified ``Graph``.

    b = GraphBuilder()
    x = b.input((1, 8, 8, 3), scale=0.05, zero_point=-3)
    y = b.conv2d(x, weights, weight_scale=[0.01] * 4, bias=bias, out_scale=0.1, out_zero_point=2,
                 stride=2, padding="SAME", activation="RELU")
    graph = b.build(outputs=[b.softmax(b.fully_connected(y, fc_weights, 0.02, None, 0.2, 0))])
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from pqk_mcu.ir.graph import Graph, Op, QuantParams, Tensor
from pqk_mcu.ir.ops import (
    BIAS_DTYPES,
    ConcatenationAttrs,
    Conv2DAttrs,
    DepthwiseConv2DAttrs,
    ElementwiseAttrs,
    FullyConnectedAttrs,
    MeanAttrs,
    NoAttrs,
    OpAttrs,
    Pool2DAttrs,
    ReshapeAttrs,
    SoftmaxAttrs,
)
from pqk_mcu.ir.opdef import OP_DEFS
from pqk_mcu.ir.shapes import infer_output_shapes
from pqk_mcu.ir.verify import verify_graph

Pair = int | tuple[int, int]


def _pair(value: Pair) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def per_tensor(scale: float, zero_point: int = 0) -> QuantParams:
    return QuantParams(scale=(float(scale),), zero_point=(int(zero_point),))


def bias_quant(input_quant: QuantParams, weight_quant: QuantParams) -> QuantParams:
    """Bias quantization as TFLite's converter writes it: scale float32(input_scale * weight_scale), zero point 0."""
    input_scale = np.float32(input_quant.scale[0])
    scales = tuple(float(input_scale * np.float32(s)) for s in weight_quant.scale)
    if len(scales) == 1:
        return QuantParams(scale=scales, zero_point=(0,))
    return QuantParams(scale=scales, zero_point=(0,) * len(scales), axis=0)


class GraphBuilder:
    """Accumulates tensors and ops; names are ``<kind>_<op index>/<role>`` unless given."""

    def __init__(self) -> None:
        self._tensors: dict[str, Tensor] = {}
        self._ops: list[Op] = []
        self._inputs: list[str] = []
        self._metadata: list[tuple[str, str]] = []

    # -- tensors -----------------------------------------------------------------------------

    def tensor(self, name: str) -> Tensor:
        return self._tensors[name]

    def shape(self, name: str) -> tuple[int, ...]:
        return self._tensors[name].shape

    def quant(self, name: str) -> QuantParams | None:
        return self._tensors[name].quant

    def _add_tensor(self, tensor: Tensor) -> str:
        if tensor.name in self._tensors:
            raise ValueError(f"tensor name '{tensor.name}' is already used")
        self._tensors[tensor.name] = tensor
        return tensor.name

    def input(self, shape: Sequence[int], scale: float, zero_point: int, name: str | None = None,
              dtype: str = "int8") -> str:
        """An int8 graph input (int16 for 16x8 models)."""
        name = name or f"input_{len(self._inputs)}"
        self._add_tensor(Tensor(name, tuple(shape), dtype, per_tensor(scale, zero_point)))
        self._inputs.append(name)
        return name

    def float_input(self, shape: Sequence[int], name: str | None = None) -> str:
        """A float32 graph input (to be followed by ``quantize``)."""
        name = name or f"input_{len(self._inputs)}"
        self._add_tensor(Tensor(name, tuple(shape), "float32"))
        self._inputs.append(name)
        return name

    def constant(self, data: np.ndarray, dtype: str, quant: QuantParams | None = None, name: str | None = None) -> str:
        name = name or f"const_{len(self._tensors)}"
        array = np.asarray(data)
        return self._add_tensor(Tensor(name, array.shape, dtype, quant, array.astype(dtype)))

    def metadata(self, key: str, value: str) -> None:
        self._metadata.append((key, value))

    # -- ops ---------------------------------------------------------------------------------

    def _emit(
        self,
        kind: str,
        inputs: Sequence[str],
        attrs: OpAttrs,
        quant: QuantParams | None,
        dtype: str = "int8",
        name: str | None = None,
    ) -> str:
        index = len(self._ops)
        op_name = f"{kind.lower()}_{index}"
        output = name or f"{op_name}/out"
        op = Op(kind, op_name, tuple(inputs), (output,), attrs)
        (shape,) = infer_output_shapes(op, self._tensors)
        self._add_tensor(Tensor(output, shape, dtype, quant))
        self._ops.append(op)
        return output

    def parts(self, kind: str, inputs: Sequence[str], attrs: OpAttrs) -> list[str]:
        """An op with one output per part (SPLIT, SPLIT_V, UNPACK); the outputs keep the activation input's type
        and quantization. Returns the output names."""
        constant_slots = OP_DEFS[kind].constant_slots
        source = self.tensor(next(name for slot, name in enumerate(inputs) if slot not in constant_slots))
        index = len(self._ops)
        op_name = f"{kind.lower()}_{index}"
        probe = Op(kind, op_name, tuple(inputs), (), attrs)
        shapes = infer_output_shapes(probe, self._tensors)
        outputs = [f"{op_name}/out{k}" for k in range(len(shapes))]
        for output, shape in zip(outputs, shapes):
            self._add_tensor(Tensor(output, shape, source.dtype, source.quant))
        self._ops.append(Op(kind, op_name, tuple(inputs), tuple(outputs), attrs))
        return outputs

    def _weights(self, kind: str, data: np.ndarray, scale: float | Sequence[float]) -> str:
        scales = np.atleast_1d(np.asarray(scale, dtype=np.float64))
        axis = OP_DEFS[kind].weight_axis
        if scales.size == 1:
            quant = QuantParams(scale=(float(scales[0]),), zero_point=(0,))
        else:
            quant = QuantParams(scale=tuple(scales.tolist()), zero_point=(0,) * scales.size, axis=axis)
        return self.constant(data, "int8", quant, name=f"{kind.lower()}_{len(self._ops)}/weights")

    def _bias(self, kind: str, x: str, weights: str, bias: np.ndarray | None) -> str:
        """The bias operand; CONV_2D and DEPTHWISE_CONV_2D get zeros when ``bias`` is None (runtimes need one)."""
        weight_tensor = self._tensors[weights]
        if bias is None:
            if kind == "FULLY_CONNECTED":
                return ""
            bias = np.zeros(weight_tensor.shape[OP_DEFS[kind].weight_axis], dtype=np.int32)
        quant = bias_quant(self._tensors[x].quant, weight_tensor.quant)
        dtype = BIAS_DTYPES.get(self._tensors[x].dtype, "int32")
        return self.constant(np.asarray(bias).reshape(-1), dtype, quant, name=f"{kind.lower()}_{len(self._ops)}/bias")

    def conv2d(
        self,
        x: str,
        weights: np.ndarray,
        weight_scale: float | Sequence[float],
        bias: np.ndarray | None,
        out_scale: float,
        out_zero_point: int,
        stride: Pair = 1,
        padding: str = "SAME",
        dilation: Pair = 1,
        activation: str = "NONE",
        name: str | None = None,
    ) -> str:
        """CONV_2D; ``weights`` int8 OHWI, ``weight_scale`` one value or one per output channel."""
        w = self._weights("CONV_2D", weights, weight_scale)
        b = self._bias("CONV_2D", x, w, bias)
        (stride_h, stride_w), (dilation_h, dilation_w) = _pair(stride), _pair(dilation)
        attrs = Conv2DAttrs(stride_h, stride_w, padding, dilation_h, dilation_w, activation)
        return self._emit("CONV_2D", (x, w, b), attrs, per_tensor(out_scale, out_zero_point), self.tensor(x).dtype,
                          name=name)

    def depthwise_conv2d(
        self,
        x: str,
        weights: np.ndarray,
        weight_scale: float | Sequence[float],
        bias: np.ndarray | None,
        out_scale: float,
        out_zero_point: int,
        stride: Pair = 1,
        padding: str = "SAME",
        dilation: Pair = 1,
        activation: str = "NONE",
        name: str | None = None,
    ) -> str:
        """DEPTHWISE_CONV_2D; ``weights`` int8 1HW(C*M); the depth multiplier follows from the shapes."""
        channels = self.shape(x)[-1]
        multiplier = np.asarray(weights).shape[-1] // channels
        w = self._weights("DEPTHWISE_CONV_2D", weights, weight_scale)
        b = self._bias("DEPTHWISE_CONV_2D", x, w, bias)
        (stride_h, stride_w), (dilation_h, dilation_w) = _pair(stride), _pair(dilation)
        attrs = DepthwiseConv2DAttrs(stride_h, stride_w, padding, dilation_h, dilation_w, multiplier, activation)
        return self._emit("DEPTHWISE_CONV_2D", (x, w, b), attrs, per_tensor(out_scale, out_zero_point),
                          self.tensor(x).dtype, name=name)

    def fully_connected(
        self,
        x: str,
        weights: np.ndarray,
        weight_scale: float | Sequence[float],
        bias: np.ndarray | None,
        out_scale: float,
        out_zero_point: int,
        activation: str = "NONE",
        keep_num_dims: bool = False,
        name: str | None = None,
    ) -> str:
        """FULLY_CONNECTED; ``weights`` int8 [out, in]; inputs of rank > 2 are flattened to rows of ``in``."""
        w = self._weights("FULLY_CONNECTED", weights, weight_scale)
        b = self._bias("FULLY_CONNECTED", x, w, bias)
        attrs = FullyConnectedAttrs(activation, keep_num_dims)
        return self._emit("FULLY_CONNECTED", (x, w, b), attrs, per_tensor(out_scale, out_zero_point),
                          self.tensor(x).dtype, name=name)

    def _pool(self, kind: str, x: str, filter_size: Pair, stride: Pair, padding: str, activation: str, name) -> str:
        (filter_h, filter_w), (stride_h, stride_w) = _pair(filter_size), _pair(stride)
        attrs = Pool2DAttrs(filter_h, filter_w, stride_h, stride_w, padding, activation)
        return self._emit(kind, (x,), attrs, self.quant(x), name=name)

    def average_pool2d(self, x: str, filter_size: Pair, stride: Pair = 1, padding: str = "VALID",
                       activation: str = "NONE", name: str | None = None) -> str:
        return self._pool("AVERAGE_POOL_2D", x, filter_size, stride, padding, activation, name)

    def max_pool2d(self, x: str, filter_size: Pair, stride: Pair = 1, padding: str = "VALID",
                   activation: str = "NONE", name: str | None = None) -> str:
        return self._pool("MAX_POOL_2D", x, filter_size, stride, padding, activation, name)

    def op(self, kind: str, inputs: Sequence[str], attrs: OpAttrs, out_scale: float | None = None,
           out_zero_point: int = 0, name: str | None = None) -> str:
        """Any op from its kind, inputs and attributes; the output keeps the first input's quantization
        unless ``out_scale`` is given, and the type of the first activation input (TRANSPOSE_CONV's is
        its third)."""
        quant = self.quant(inputs[0]) if out_scale is None else per_tensor(out_scale, out_zero_point)
        constant_slots = OP_DEFS[kind].constant_slots
        activation = next(name for slot, name in enumerate(inputs) if slot not in constant_slots)
        return self._emit(kind, inputs, attrs, quant, self.tensor(activation).dtype, name=name)

    def binary(self, kind: str, a: str, b: str, out_scale: float, out_zero_point: int, activation: str = "NONE",
               name: str | None = None) -> str:
        """Any element-wise op of two broadcast inputs (ADD, SUB, MUL, ...) with ElementwiseAttrs."""
        return self._emit(kind, (a, b), ElementwiseAttrs(activation), per_tensor(out_scale, out_zero_point),
                          self.tensor(a).dtype, name=name)

    def add(self, a: str, b: str, out_scale: float, out_zero_point: int, activation: str = "NONE",
            name: str | None = None) -> str:
        return self.binary("ADD", a, b, out_scale, out_zero_point, activation, name)

    def mul(self, a: str, b: str, out_scale: float, out_zero_point: int, activation: str = "NONE",
            name: str | None = None) -> str:
        return self.binary("MUL", a, b, out_scale, out_zero_point, activation, name)

    def reshape(self, x: str, new_shape: Sequence[int], name: str | None = None) -> str:
        """RESHAPE with a constant int32 shape operand (as the TFLite converter writes it); -1 is resolved."""
        shape = [int(d) for d in new_shape]
        if -1 in shape:
            known = int(np.prod([d for d in shape if d != -1]))
            shape[shape.index(-1)] = self._tensors[x].size // known
        operand = self.constant(np.array(shape, dtype=np.int32), "int32", name=f"reshape_{len(self._ops)}/shape")
        return self._emit("RESHAPE", (x, operand), ReshapeAttrs(tuple(shape)), self.quant(x), name=name)

    def softmax(self, x: str, beta: float = 1.0, name: str | None = None, dtype: str = "int8") -> str:
        """int8 output, or int16 (TFLite Micro's 8-in 16-out form); an int16 input gives int16."""
        definition = OP_DEFS["SOFTMAX"]
        if self.tensor(x).dtype == "int16":
            dtype, quant = "int16", definition.int16_form_output_quant
        else:
            quant = definition.int16_output_quant if dtype == "int16" else definition.fixed_output_quant
        return self._emit("SOFTMAX", (x,), SoftmaxAttrs(float(np.float32(beta))), per_tensor(*quant), dtype, name=name)

    def quantize(self, x: str, out_scale: float, out_zero_point: int, name: str | None = None,
                 dtype: str = "int8") -> str:
        """QUANTIZE float32 -> int8, or requantization to ``dtype`` (int8, int16 or int32)."""
        return self._emit("QUANTIZE", (x,), NoAttrs(), per_tensor(out_scale, out_zero_point), dtype, name=name)

    def dequantize(self, x: str, name: str | None = None) -> str:
        return self._emit("DEQUANTIZE", (x,), NoAttrs(), None, dtype="float32", name=name)

    def pad(self, x: str, paddings: Sequence[Sequence[int]], name: str | None = None) -> str:
        """PAD with the input's zero point; ``paddings`` is [rank, 2] (before, after)."""
        operand = self.constant(np.array(paddings, dtype=np.int32), "int32", name=f"pad_{len(self._ops)}/paddings")
        return self._emit("PAD", (x, operand), NoAttrs(), self.quant(x), self.tensor(x).dtype, name=name)

    def mean(self, x: str, axes: Sequence[int], keep_dims: bool, out_scale: float, out_zero_point: int,
             name: str | None = None) -> str:
        operand = self.constant(np.array(axes, dtype=np.int32), "int32", name=f"mean_{len(self._ops)}/axes")
        return self._emit("MEAN", (x, operand), MeanAttrs(keep_dims), per_tensor(out_scale, out_zero_point), name=name)

    def concatenation(self, xs: Sequence[str], axis: int, name: str | None = None) -> str:
        """CONCATENATION; all inputs must share one quantization (TFLite Micro copies without rescaling)."""
        rank = len(self.shape(xs[0]))
        attrs = ConcatenationAttrs(axis % rank)
        return self._emit("CONCATENATION", tuple(xs), attrs, self.quant(xs[0]), name=name)

    def relu(self, x: str, out_scale: float | None = None, out_zero_point: int | None = None,
             name: str | None = None) -> str:
        """RELU; rescales to (out_scale, out_zero_point), by default keeps the input's quantization."""
        quant = self.quant(x) if out_scale is None else per_tensor(out_scale, out_zero_point or 0)
        return self._emit("RELU", (x,), NoAttrs(), quant, name=name)

    def relu6(self, x: str, name: str | None = None) -> str:
        """RELU6 in the input's quantization (TFLite Micro's kernel does not rescale)."""
        return self._emit("RELU6", (x,), NoAttrs(), self.quant(x), name=name)

    def logistic(self, x: str, name: str | None = None) -> str:
        return self._fixed_output("LOGISTIC", x, name)

    def tanh(self, x: str, name: str | None = None) -> str:
        return self._fixed_output("TANH", x, name)

    def _fixed_output(self, kind: str, x: str, name: str | None) -> str:
        """A one-input op whose output quantization TFLite Micro fixes (per input type)."""
        definition, dtype = OP_DEFS[kind], self.tensor(x).dtype
        quant = definition.int16_form_output_quant if dtype == "int16" else definition.fixed_output_quant
        return self._emit(kind, (x,), NoAttrs(), per_tensor(*quant), dtype, name=name)

    # -- result ------------------------------------------------------------------------------

    def build(self, outputs: Sequence[str]) -> Graph:
        """The verified graph; tensors no op or graph edge uses are dropped."""
        used = set(self._inputs) | set(outputs)
        for op in self._ops:
            used.update(n for n in op.inputs if n)
            used.update(op.outputs)
        graph = Graph(
            tensors=tuple(t for t in self._tensors.values() if t.name in used),
            ops=tuple(self._ops),
            inputs=tuple(self._inputs),
            outputs=tuple(outputs),
            metadata=tuple(self._metadata),
        )
        verify_graph(graph)
        return graph

    def state(self, shape: Sequence[int], dtype: str, scale: float, zero_point: int, name: str | None = None) -> str:
        """A variable (state) tensor: an op's memory across invocations (SVDF's activation state)."""
        name = name or f"state_{len(self._tensors)}"
        return self._add_tensor(Tensor(name, tuple(shape), dtype, per_tensor(scale, zero_point), variable=True))
