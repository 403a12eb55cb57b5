"""Typed operator attributes, one frozen dataclass per op kind.

Op kinds use TFLite's builtin names. Inputs per kind (TFLite order, "" = absent optional):

| kind               | inputs                                   | attrs                 |
| ------------------ | ---------------------------------------- | --------------------- |
| CONV_2D            | input, filter (OHWI), bias int32 or ""   | Conv2DAttrs           |
| DEPTHWISE_CONV_2D  | input, filter (1HW(I*M)), bias or ""     | DepthwiseConv2DAttrs  |
| FULLY_CONNECTED    | input, weights [out,in], bias or ""      | FullyConnectedAttrs   |
| AVERAGE_POOL_2D    | input                                    | Pool2DAttrs           |
| MAX_POOL_2D        | input                                    | Pool2DAttrs           |
| ADD, MUL           | input1, input2 (broadcast)               | ElementwiseAttrs      |
| RESHAPE            | input (+ optional const shape tensor)    | ReshapeAttrs          |
| SOFTMAX            | input                                    | SoftmaxAttrs          |
| QUANTIZE           | input (float32 or int8) -> int8          | NoAttrs               |
| DEQUANTIZE         | input int8 -> float32                    | NoAttrs               |
| PAD                | input, const paddings int32 [rank, 2]    | NoAttrs               |
| MEAN               | input, const axes int32                  | MeanAttrs             |
| CONCATENATION      | input0, input1, ...                      | ConcatenationAttrs    |
| RELU, RELU6        | input                                    | NoAttrs               |
| LOGISTIC, TANH     | input                                    | NoAttrs               |
"""

from __future__ import annotations

from dataclasses import dataclass

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
PADDINGS = ("SAME", "VALID")


@dataclass(frozen=True)
class NoAttrs:
    pass


@dataclass(frozen=True)
class Conv2DAttrs:
    stride_h: int = 1
    stride_w: int = 1
    padding: str = "VALID"
    dilation_h: int = 1
    dilation_w: int = 1
    activation: str = "NONE"


@dataclass(frozen=True)
class DepthwiseConv2DAttrs:
    stride_h: int = 1
    stride_w: int = 1
    padding: str = "VALID"
    dilation_h: int = 1
    dilation_w: int = 1
    depth_multiplier: int = 1
    activation: str = "NONE"


@dataclass(frozen=True)
class FullyConnectedAttrs:
    activation: str = "NONE"
    keep_num_dims: bool = False


@dataclass(frozen=True)
class Pool2DAttrs:
    filter_h: int = 1
    filter_w: int = 1
    stride_h: int = 1
    stride_w: int = 1
    padding: str = "VALID"
    activation: str = "NONE"


@dataclass(frozen=True)
class ElementwiseAttrs:
    activation: str = "NONE"


@dataclass(frozen=True)
class ReshapeAttrs:
    new_shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class SoftmaxAttrs:
    beta: float = 1.0


@dataclass(frozen=True)
class MeanAttrs:
    keep_dims: bool = False


@dataclass(frozen=True)
class ConcatenationAttrs:
    axis: int = 0
    activation: str = "NONE"


OpAttrs = (
    NoAttrs
    | Conv2DAttrs
    | DepthwiseConv2DAttrs
    | FullyConnectedAttrs
    | Pool2DAttrs
    | ElementwiseAttrs
    | ReshapeAttrs
    | SoftmaxAttrs
    | MeanAttrs
    | ConcatenationAttrs
)

ATTRS_BY_KIND: dict[str, type] = {
    "CONV_2D": Conv2DAttrs,
    "DEPTHWISE_CONV_2D": DepthwiseConv2DAttrs,
    "FULLY_CONNECTED": FullyConnectedAttrs,
    "AVERAGE_POOL_2D": Pool2DAttrs,
    "MAX_POOL_2D": Pool2DAttrs,
    "ADD": ElementwiseAttrs,
    "MUL": ElementwiseAttrs,
    "RESHAPE": ReshapeAttrs,
    "SOFTMAX": SoftmaxAttrs,
    "QUANTIZE": NoAttrs,
    "DEQUANTIZE": NoAttrs,
    "PAD": NoAttrs,
    "MEAN": MeanAttrs,
    "CONCATENATION": ConcatenationAttrs,
    "RELU": NoAttrs,
    "RELU6": NoAttrs,
    "LOGISTIC": NoAttrs,
    "TANH": NoAttrs,
}

SUPPORTED_OPS = tuple(ATTRS_BY_KIND)
