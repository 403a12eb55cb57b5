"""The built-in ops: typed attributes (one frozen dataclass per op kind) and one ``OpDef`` per kind.

Each definition says arity, constant inputs, shape rule, quantization constraints, whether an
activation fuses, and the .tflite options table, fields and operator version; the verifier, shape
inference, builder, importer and exporter read it (see ``pqk_mcu.ir.opdef``).

Activations are int8; ops whose definition lists int16 (``activation_dtypes``) also run TFLite's 16x8
form (int16 activations with zero point 0, int8 weights, int64 biases).

Op kinds use TFLite's builtin names. Inputs per kind (TFLite order, "" = absent optional):

| kind               | inputs                                   | attrs                 |
| ------------------ | ---------------------------------------- | --------------------- |
| CONV_2D            | input, filter (OHWI), bias int32 (16x8: int64) or "" | Conv2DAttrs |
| DEPTHWISE_CONV_2D  | input, filter (1HW(I*M)), bias or ""     | DepthwiseConv2DAttrs  |
| FULLY_CONNECTED    | input, weights [out,in], bias or ""      | FullyConnectedAttrs   |
| AVERAGE_POOL_2D    | input                                    | Pool2DAttrs           |
| MAX_POOL_2D        | input                                    | Pool2DAttrs           |
| ADD, SUB, MUL      | input1, input2 (broadcast)               | ElementwiseAttrs      |
| RESHAPE            | input (+ optional const shape tensor)    | ReshapeAttrs          |
| SOFTMAX            | input int8 -> int8 or int16, int16 -> int16 | SoftmaxAttrs       |
| QUANTIZE           | input (float32, int8, int16, int32) -> int8, int16 or int32 | NoAttrs |
| DEQUANTIZE         | input int8 or int16 -> float32           | NoAttrs               |
| PAD                | input, const paddings int32 [rank, 2]    | NoAttrs               |
| MEAN               | input, const axes int32                  | MeanAttrs             |
| CONCATENATION      | input0, input1, ...                      | ConcatenationAttrs    |
| RELU, RELU6        | input                                    | NoAttrs               |
| LOGISTIC, TANH     | input                                    | NoAttrs               |
| LEAKY_RELU         | input                                    | LeakyReluAttrs        |
| HARD_SWISH         | input                                    | NoAttrs               |
| MAXIMUM, MINIMUM   | input1, input2 (broadcast)               | NoAttrs               |
| PRELU              | input, alpha (broadcast)                 | NoAttrs               |
| TRANSPOSE          | input, const perm int32                  | NoAttrs               |
| SQUEEZE            | input                                    | SqueezeAttrs          |
| STRIDED_SLICE      | input, const begin, end, strides int32   | StridedSliceAttrs     |
| RESIZE_NEAREST_NEIGHBOR | input NHWC, const size int32 [2]    | ResizeAttrs           |
| PACK               | input0, input1, ... (one shape)          | PackAttrs             |
| SVDF               | input, const weights_feature, const weights_time, const bias int32, variable state | SvdfAttrs |
| TRANSPOSE_CONV     | const output shape int32 [4], filter (OHWI), input, bias int32 (16x8: int64) or "" | TransposeConvAttrs |
| UNIDIRECTIONAL_SEQUENCE_LSTM | input [B,T,I], const input weights x4 [U,I], const recurrent weights x4 [U,U], |
|                    | "" x3, const biases int32 x4, "" x2, variable hidden int8 [B,U], cell int16 [B,U], "" x4 | LstmAttrs |
| SPLIT              | const axis int32 scalar, input -> num_splits equal parts | SplitAttrs      |
| SPLIT_V            | input, const size_splits int32, const axis int32 scalar -> one part per size | SplitAttrs |
| UNPACK             | input -> num outputs, each without ``axis`` | UnpackAttrs        |
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from pqk_mcu.errors import PqkError, UnsupportedModelError
from pqk_mcu.ir.graph import Graph, Op, QuantParams, Tensor
from pqk_mcu.ir.opdef import OpDef, TfliteOptions, define_op
from pqk_mcu.ir.shapes import (
    ShapeError,
    broadcast_shape,
    brief_shape,
    concatenation_shape,
    conv2d_shape,
    depthwise_shape,
    fully_connected_shape,
    lstm_shape,
    mean_shape,
    pack_shape,
    pad_shape,
    pool_shape,
    reshape_shape,
    resize_shape,
    same_shape,
    squeeze_shape,
    strided_slice_shape,
    svdf_shape,
    transpose_conv_shape,
    transpose_shape,
)

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
INT8_INT16 = ("int8", "int16")  # activation types of an op with a 16x8 form
# Bias type per input type: 16x8 layers accumulate in int64 (TFLite's 16x8 converter writes int64 biases).
BIAS_DTYPES = {"int8": "int32", "int16": "int64"}
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


@dataclass(frozen=True)
class LeakyReluAttrs:
    alpha: float = 0.0  # slope for negative inputs (float32 value)


@dataclass(frozen=True)
class StridedSliceAttrs:
    """Bit k of a mask is input axis k: begin / end ignored (the axis's full range), or the axis dropped."""

    begin_mask: int = 0
    end_mask: int = 0
    shrink_axis_mask: int = 0


@dataclass(frozen=True)
class SqueezeAttrs:
    squeeze_dims: tuple[int, ...] = ()  # axes of size 1 to drop (none listed: every axis of size 1)


@dataclass(frozen=True)
class ResizeAttrs:
    align_corners: bool = False
    half_pixel_centers: bool = False


@dataclass(frozen=True)
class PackAttrs:
    values_count: int = 0  # the number of inputs (TFLite Micro's kernel loops over this count)
    axis: int = 0  # the new output axis


@dataclass(frozen=True)
class SvdfAttrs:
    rank: int = 1
    # The file's fused activation code, kept for export: TFLite Micro's int8 kernel does not apply it
    # (its output only saturates to int8), so the IR must not treat it as a fused activation.
    unapplied_activation: int = 0


@dataclass(frozen=True)
class TransposeConvAttrs:
    stride_h: int = 1
    stride_w: int = 1
    padding: str = "VALID"
    activation: str = "NONE"


@dataclass(frozen=True)
class LstmAttrs:
    cell_clip: float = 0.0  # |cell state| limit in real units; 0: none
    time_major: bool = False  # input and output [T, B, ...] instead of [B, T, ...]
    # The cell gate's nonlinearity as TFLite's fused activation code; TFLite Micro runs only TANH (4).
    cell_activation: int = 4


@dataclass(frozen=True)
class SplitAttrs:
    num_splits: int = 0  # the number of outputs


@dataclass(frozen=True)
class UnpackAttrs:
    num: int = 0  # the number of outputs: the input's size along ``axis``
    axis: int = 0  # the input axis the outputs drop


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
    | LeakyReluAttrs
    | StridedSliceAttrs
    | SqueezeAttrs
    | ResizeAttrs
    | PackAttrs
    | SvdfAttrs
    | TransposeConvAttrs
    | LstmAttrs
    | SplitAttrs
    | UnpackAttrs
)

_WINDOW_FIELDS = (("padding", "padding"), ("stride_h", "strideH"), ("stride_w", "strideW"))
_DILATION_FIELDS = (("dilation_h", "dilationHFactor"), ("dilation_w", "dilationWFactor"))
_ACTIVATION_FIELD = (("activation", "fusedActivationFunction"),)


def _depth_multiplier_from_filter(attrs: DepthwiseConv2DAttrs, inputs: list, outputs: list, where: str):
    """Some converters leave depth_multiplier 0; the filter shape defines it."""
    if attrs.depth_multiplier <= 0 and inputs[0] is not None and inputs[1] is not None and inputs[0].shape:
        return replace(attrs, depth_multiplier=inputs[1].shape[-1] // max(inputs[0].shape[-1], 1))
    return attrs


def _reshape_target(attrs: ReshapeAttrs, inputs: list, outputs: list, where: str) -> ReshapeAttrs:
    """RESHAPE's target shape: options.new_shape, else the constant shape input, else the output shape;
    a -1 entry is resolved from the input size."""
    requested = list(attrs.new_shape) or None
    if requested is None and len(inputs) > 1 and inputs[1] is not None and inputs[1].is_constant:
        requested = [int(d) for d in inputs[1].data.reshape(-1)]
    if requested is None:
        return ReshapeAttrs(tuple(outputs[0].shape) if outputs else ())
    if requested.count(-1) > 1 or any(d < -1 or d == 0 for d in requested):
        raise UnsupportedModelError(f"{where} has new shape {brief_shape(requested)}, which pqk-mcu does not support")
    if -1 in requested and inputs and inputs[0] is not None:
        known = int(np.prod([d for d in requested if d != -1], dtype=np.int64))
        if known == 0 or inputs[0].size % known:
            raise PqkError(f"{where} cannot reshape {inputs[0].shape} to {brief_shape(requested)}")
        requested[requested.index(-1)] = inputs[0].size // known
    return ReshapeAttrs(tuple(requested))


def _axis_from_end(attrs: ConcatenationAttrs, inputs: list, outputs: list, where: str) -> ConcatenationAttrs:
    """A negative axis counts from the end (the IR keeps it non-negative)."""
    if attrs.axis < 0:
        return replace(attrs, axis=attrs.axis + (len(outputs[0].shape) if outputs else 0))
    return attrs


def _pack_axis_from_end(attrs: PackAttrs, inputs: list, outputs: list, where: str) -> PackAttrs:
    """A negative axis counts from the end of the output (the IR keeps it non-negative)."""
    if attrs.axis < 0:
        return replace(attrs, axis=attrs.axis + (len(outputs[0].shape) if outputs else 0))
    return attrs


def _fully_connected_version(op: Op, graph: Graph) -> int:
    return 5 if op.attrs.keep_num_dims else 4


def _quantize_version(op: Op, graph: Graph) -> int:
    return 2 if graph.tensor(op.inputs[0]).dtype == "int8" else 1  # 2: int8 -> int8 requantization


def _version_by_input_type(int16: int, slot: int = 0) -> Callable[[Op, Graph], int]:
    """The operator version of an op whose int8 form is version 2 and int16 form ``int16`` (TFLite's
    op_version.cc), by the type of its activation input ``slot``."""
    def version(op: Op, graph: Graph) -> int:
        return int16 if graph.tensor(op.inputs[slot]).dtype == "int16" else 2
    return version


def _binary(kind: str, options: str, version: int | Callable[[Op, Graph], int] = 2, **constraints) -> OpDef:
    """An int8 element-wise op of two broadcast inputs with a fused activation."""
    return OpDef(
        kind, ElementwiseAttrs, broadcast_shape, inputs=(2, 2), fuses_activation=True,
        tflite=TfliteOptions(options, _ACTIVATION_FIELD, version=version), **constraints,
    )


def _unary(kind: str, version: int | Callable[[Op, Graph], int] = 2, **constraints) -> OpDef:
    """An int8 element-wise op of one input without attributes or options table."""
    return OpDef(kind, NoAttrs, same_shape, inputs=(1, 1), tflite=TfliteOptions(version=version), **constraints)


SUPPORTED_OPS = tuple(define_op(definition).kind for definition in (
    OpDef(
        "CONV_2D", Conv2DAttrs, conv2d_shape, inputs=(2, 3), optional_slots=(2,), constant_slots=(1, 2),
        weight_axis=0, bias_required=True, fuses_activation=True, activation_dtypes=INT8_INT16,
        tflite=TfliteOptions("Conv2DOptions", _WINDOW_FIELDS + _DILATION_FIELDS + _ACTIVATION_FIELD, required=True,
                             version=3),
    ),
    OpDef(
        "DEPTHWISE_CONV_2D", DepthwiseConv2DAttrs, depthwise_shape, inputs=(2, 3), optional_slots=(2,),
        constant_slots=(1, 2), weight_axis=3, bias_required=True, fuses_activation=True,
        activation_dtypes=INT8_INT16, resolve_attrs=_depth_multiplier_from_filter,
        tflite=TfliteOptions(
            "DepthwiseConv2DOptions",
            _WINDOW_FIELDS + _DILATION_FIELDS + (("depth_multiplier", "depthMultiplier"),) + _ACTIVATION_FIELD,
            required=True, version=3,
        ),
    ),
    OpDef(
        "FULLY_CONNECTED", FullyConnectedAttrs, fully_connected_shape, inputs=(2, 3), optional_slots=(2,),
        constant_slots=(1, 2), weight_axis=0, fuses_activation=True, activation_dtypes=INT8_INT16,
        tflite=TfliteOptions(
            "FullyConnectedOptions", _ACTIVATION_FIELD + (("keep_num_dims", "keepNumDims"),),
            only_values=(("weightsFormat", 0, "uses shuffled weights"),), version=_fully_connected_version,
        ),
    ),
    *(
        OpDef(
            kind, Pool2DAttrs, pool_shape, inputs=(1, 1), same_quant="first", fuses_activation=True,
            tflite=TfliteOptions(
                "Pool2DOptions",
                _WINDOW_FIELDS + (("filter_h", "filterHeight"), ("filter_w", "filterWidth")) + _ACTIVATION_FIELD,
                required=True, version=2,
            ),
        )
        for kind in ("AVERAGE_POOL_2D", "MAX_POOL_2D")
    ),
    _binary("ADD", "AddOptions", activation_dtypes=INT8_INT16),
    _binary("SUB", "SubOptions", activation_dtypes=INT8_INT16),
    _binary("MUL", "MulOptions", _version_by_input_type(4), activation_dtypes=INT8_INT16),
    OpDef(
        "RESHAPE", ReshapeAttrs, reshape_shape, inputs=(1, 2), constant_slots=(1,), same_quant="first",
        resolve_attrs=_reshape_target, tflite=TfliteOptions("ReshapeOptions", (("new_shape", "newShape"),)),
    ),
    OpDef(
        "SOFTMAX", SoftmaxAttrs, same_shape, inputs=(1, 1), fixed_output_quant=(1.0 / 256, -128),
        int16_output_quant=(1.0 / 65536, -32768), activation_dtypes=INT8_INT16,
        int16_form_output_quant=(1.0 / 32768, 0),
        tflite=TfliteOptions("SoftmaxOptions", (("beta", "beta"),), required=True, version=_version_by_input_type(3)),
    ),
    OpDef(
        # int8, int16, int32 -> int8, int16, int32 too (TFLM's Requantize); float32 only -> int8.
        "QUANTIZE", NoAttrs, same_shape, inputs=(1, 1), float_input=True, activation_dtypes=("int8", "int16", "int32"),
        converts_dtype=True,
        tflite=TfliteOptions("QuantizeOptions", version=_quantize_version),
    ),
    OpDef(
        "DEQUANTIZE", NoAttrs, same_shape, inputs=(1, 1), float_output=True, converts_dtype=True,
        activation_dtypes=INT8_INT16,
        tflite=TfliteOptions("DequantizeOptions", version=2),
    ),
    OpDef(
        "PAD", NoAttrs, pad_shape, inputs=(2, 2), constant_slots=(1,), same_quant="first", max_input_rank=5,
        activation_dtypes=INT8_INT16,
        tflite=TfliteOptions("PadOptions", version=2),
    ),
    OpDef(
        "MEAN", MeanAttrs, mean_shape, inputs=(2, 2), constant_slots=(1,),
        tflite=TfliteOptions("ReducerOptions", (("keep_dims", "keepDims"),), version=2),
    ),
    OpDef(
        # TFLite Micro's kMaxInputNum; its kernel copies without rescaling and rejects a fused activation.
        "CONCATENATION", ConcatenationAttrs, concatenation_shape, inputs=(1, 10), same_quant="all",
        resolve_attrs=_axis_from_end,
        tflite=TfliteOptions("ConcatenationOptions", (("axis", "axis"),) + _ACTIVATION_FIELD, version=2),
    ),
    _unary("RELU"),
    # TFLite Micro's RELU6 clamps in the input's quantization; litert's rescales, so only equal
    # quantization means the same thing on both.
    _unary("RELU6", same_quant="first"),
    _unary("LOGISTIC", _version_by_input_type(3), fixed_output_quant=(1.0 / 256, -128), activation_dtypes=INT8_INT16,
           int16_form_output_quant=(1.0 / 32768, 0)),
    _unary("TANH", _version_by_input_type(3), fixed_output_quant=(1.0 / 128, 0), activation_dtypes=INT8_INT16,
           int16_form_output_quant=(1.0 / 32768, 0)),
    OpDef("HARD_SWISH", NoAttrs, same_shape, inputs=(1, 1), tflite=TfliteOptions("HardSwishOptions")),
    *(
        # TFLite Micro compares the raw int8 values: inputs and output share one quantization.
        OpDef(kind, NoAttrs, broadcast_shape, inputs=(2, 2), same_quant="all",
              tflite=TfliteOptions("MaximumMinimumOptions", version=2))
        for kind in ("MAXIMUM", "MINIMUM")
    ),
    OpDef("SQUEEZE", SqueezeAttrs, squeeze_shape, inputs=(1, 1), same_quant="first",
          tflite=TfliteOptions("SqueezeOptions", (("squeeze_dims", "squeezeDims"),))),
    OpDef("TRANSPOSE", NoAttrs, transpose_shape, inputs=(2, 2), constant_slots=(1,), same_quant="first",
          tflite=TfliteOptions("TransposeOptions", version=2)),
    OpDef(
        # TFLite Micro ignores the ellipsis and new-axis masks and the offset flag: files using them are refused.
        "STRIDED_SLICE", StridedSliceAttrs, strided_slice_shape, inputs=(4, 4), constant_slots=(1, 2, 3),
        same_quant="first", activation_dtypes=INT8_INT16,
        tflite=TfliteOptions(
            "StridedSliceOptions",
            (("begin_mask", "beginMask"), ("end_mask", "endMask"), ("shrink_axis_mask", "shrinkAxisMask")),
            only_values=(("ellipsisMask", 0, "uses an ellipsis mask"), ("newAxisMask", 0, "uses a new-axis mask"),
                         ("offset", 0, "uses offset end indices")),
            version=2,
        ),
    ),
    OpDef(
        "RESIZE_NEAREST_NEIGHBOR", ResizeAttrs, resize_shape, inputs=(2, 2), constant_slots=(1,), same_quant="first",
        tflite=TfliteOptions(
            "ResizeNearestNeighborOptions",
            (("align_corners", "alignCorners"), ("half_pixel_centers", "halfPixelCenters")), version=2,
        ),
    ),
    OpDef(
        # Runs on CONCATENATION's kernel (up to its input count); values move unchanged.
        "PACK", PackAttrs, pack_shape, inputs=(1, 10), same_quant="all", resolve_attrs=_pack_axis_from_end,
        tflite=TfliteOptions("PackOptions", (("values_count", "valuesCount"), ("axis", "axis")), version=2),
    ),
    OpDef("PRELU", NoAttrs, broadcast_shape, inputs=(2, 2), max_input_rank=4, tflite=TfliteOptions()),
    OpDef("LEAKY_RELU", LeakyReluAttrs, same_shape, inputs=(1, 1), activation_dtypes=INT8_INT16,
          tflite=TfliteOptions("LeakyReluOptions", (("alpha", "alpha"),))),
))


def _check_svdf_operands(inputs: list, output: Tensor, where: str) -> None:
    """TFLite Micro's int8 SVDF: int8 weights_feature, weights_time and state both int16 or both int8,
    int32 bias of scale state scale x weights_time scale, all quantized per tensor."""
    _, feature, time, bias, state = inputs
    if feature.dtype != "int8" or feature.per_tensor_quant is None:
        raise PqkError(f"{where}: weights_feature '{feature.name}' must be int8 quantized per tensor")
    if state.dtype not in ("int8", "int16") or state.per_tensor_quant is None:
        raise PqkError(f"{where}: activation state '{state.name}' must be int8 or int16 quantized per tensor")
    if time.dtype != state.dtype or time.per_tensor_quant is None:
        raise PqkError(f"{where}: weights_time '{time.name}' must be {state.dtype} (as the state) quantized per tensor")
    if bias.dtype != "int32" or bias.per_tensor_quant is None:
        raise PqkError(f"{where}: bias '{bias.name}' must be int32 quantized per tensor")
    # TFLite Micro's Prepare: |bias scale - state scale x weights_time scale| < 1e-5.
    expected = float(np.float32(state.quant.scale[0]) * np.float32(time.quant.scale[0]))
    if abs(bias.quant.scale[0] - expected) >= 1e-5:
        raise PqkError(f"{where}: bias '{bias.name}' has scale {bias.quant.scale[0]:.6g}, expected state scale x "
                       f"weights_time scale = {expected:.6g}")


SUPPORTED_OPS += (define_op(OpDef(
    # TFLite Micro dereferences the bias in Prepare, so it is required; the state is the model's memory.
    "SVDF", SvdfAttrs, svdf_shape, inputs=(5, 5), constant_slots=(1, 2, 3), state_slots=(4,),
    prunable_slots=(1,),  # weights_feature (weights_time filters the state over time and stays as it is)
    check_operands=_check_svdf_operands,
    tflite=TfliteOptions("SVDFOptions", (("rank", "rank"), ("unapplied_activation", "fusedActivationFunction")),
                         required=True, only_values=(("asymmetricQuantizeInputs", 0, "uses hybrid quantization"),),
                         version=3),
)).kind,)


def _check_transpose_conv_operands(inputs: list, output: Tensor, where: str) -> None:
    """int8 filter, symmetric, per tensor or per output channel (axis 0); an int32 bias (int64 for int16
    inputs) of scale input scale x filter scale (TFLite Micro's PopulateConvolutionQuantizationParams)."""
    w, x = inputs[1], inputs[2]
    bias = inputs[3] if len(inputs) > 3 else None
    if w.dtype != "int8" or w.quant is None or any(z != 0 for z in w.quant.zero_point):
        raise PqkError(f"{where}: filter '{w.name}' must be int8 with zero point 0")
    if w.quant.per_channel and w.quant.axis != 0:
        raise PqkError(f"{where}: filter '{w.name}' is quantized along axis {w.quant.axis}, expected 0")
    if bias is None:
        return
    bias_dtype = BIAS_DTYPES[x.dtype]
    if bias.dtype != bias_dtype or bias.quant is None:
        raise PqkError(f"{where}: bias '{bias.name}' must be quantized {bias_dtype}")
    channels = w.shape[0]
    weight_scales = w.quant.scale if w.quant.per_channel else w.quant.scale * channels
    bias_scales = bias.quant.scale if bias.quant.per_channel else bias.quant.scale * channels
    for channel, (ws, bs) in enumerate(zip(weight_scales, bias_scales)):
        if not math.isclose(bs, x.quant.scale[0] * ws, rel_tol=1e-4):
            raise PqkError(f"{where}: bias '{bias.name}' channel {channel} has scale {bs:.6g}, "
                           f"expected input scale x filter scale = {x.quant.scale[0] * ws:.6g}")


def _transpose_conv_version(op: Op, graph: Graph) -> int:
    if op.attrs.activation != "NONE":
        return 4
    return 3 if len(op.inputs) > 3 and op.inputs[3] else 2  # 3: with a bias, 2: int8


SUPPORTED_OPS += (define_op(OpDef(
    # Slot 2 is the input, so the op is not "weighted" in the registry's sense (slot 1 weights, slot 2
    # bias): its filter is pruned by prunable_slots and stored dense or CSR by its own lowering (int8).
    "TRANSPOSE_CONV", TransposeConvAttrs, transpose_conv_shape, inputs=(3, 4), optional_slots=(3,),
    constant_slots=(0, 1, 3), output_shape_slot=0, prunable_slots=(1,), fuses_activation=True,
    activation_dtypes=INT8_INT16,
    check_operands=_check_transpose_conv_operands,
    tflite=TfliteOptions(
        "TransposeConvOptions",
        (("padding", "padding"), ("stride_w", "strideW"), ("stride_h", "strideH")) + _ACTIVATION_FIELD,
        required=True, version=_transpose_conv_version,
    ),
)).kind,)


LSTM_TANH = 4  # TFLite's ActivationFunctionType.TANH
# Peephole (9-11), projection (16-17) and layer norm (20-23) inputs: TFLite Micro's LSTM runs without them.
_LSTM_VARIANT_SLOTS = (9, 10, 11, 16, 17, 20, 21, 22, 23)


def _check_lstm_attrs(attrs: LstmAttrs, inputs: list, outputs: list, where: str) -> LstmAttrs:
    if attrs.cell_activation != LSTM_TANH:
        raise UnsupportedModelError(f"{where} uses cell gate activation code {attrs.cell_activation} (not tanh), "
                                    "which pqk-mcu does not support")
    return attrs


def _check_lstm_operands(inputs: list, output: Tensor, where: str) -> None:
    """TFLite Micro's integer LSTM (8x8->16): int8 input, output and hidden state, int8 weights and
    int32 biases, an int16 cell state, all quantized per tensor, weights and cell state symmetric."""
    present = [slot for slot in _LSTM_VARIANT_SLOTS if inputs[slot] is not None]
    if present:
        raise UnsupportedModelError(f"{where} has peephole, projection or layer norm inputs (slots {present}), "
                                    "which pqk-mcu does not support")
    for slot in range(1, 9):
        w = inputs[slot]
        if w.dtype != "int8" or w.per_tensor_quant is None or w.quant.zero_point[0] != 0:
            raise PqkError(f"{where}: weights '{w.name}' must be int8 quantized per tensor with zero point 0")
    for slot in range(12, 16):
        if inputs[slot].dtype != "int32":
            raise PqkError(f"{where}: bias '{inputs[slot].name}' must be int32")
    hidden, cell = inputs[18], inputs[19]
    if hidden.dtype != "int8" or hidden.per_tensor_quant is None:
        raise PqkError(f"{where}: hidden state '{hidden.name}' must be int8 quantized per tensor")
    if cell.dtype != "int16" or cell.per_tensor_quant is None or cell.quant.zero_point[0] != 0:
        raise PqkError(f"{where}: cell state '{cell.name}' must be int16 quantized per tensor with zero point 0")


def _lstm_intermediates(op: Op, graph: Graph) -> tuple[Tensor, ...]:
    """What TFLite's (not TFLite Micro's) integer LSTM reads from the operator's five intermediates, as
    the converter writes them: the four gates' Q3.12 pre-activations (read only with layer norm) and the
    effective hidden state, quantized as the hidden state. They hold no data (shape [0]): TFLite Micro
    refuses an intermediate of non-zero size."""
    gates = tuple(Tensor(f"{op.name}/{gate}_intermediate", (0,), "int16", QuantParams((2.0 ** -12,), (0,)))
                  for gate in ("input_to_input", "input_to_forget", "input_to_cell", "input_to_output"))
    hidden = graph.tensor(op.inputs[18])
    return gates + (Tensor(f"{op.name}/effective_hidden_scale_intermediate", (0,), "int8", hidden.quant),)


SUPPORTED_OPS += (define_op(OpDef(
    "UNIDIRECTIONAL_SEQUENCE_LSTM", LstmAttrs, lstm_shape, inputs=(24, 24), optional_slots=_LSTM_VARIANT_SLOTS,
    constant_slots=(1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 14, 15), state_slots=(18, 19),
    prunable_slots=(1, 2, 3, 4, 5, 6, 7, 8),  # the gate weights
    resolve_attrs=_check_lstm_attrs, check_operands=_check_lstm_operands,
    tflite=TfliteOptions(
        "UnidirectionalSequenceLSTMOptions",
        (("cell_clip", "cellClip"), ("time_major", "timeMajor"), ("cell_activation", "fusedActivationFunction")),
        required=True,
        only_values=(("asymmetricQuantizeInputs", 0, "uses hybrid quantization"),
                     ("diagonalRecurrentTensors", 0, "uses diagonal recurrent weights")),
        intermediates=_lstm_intermediates,
    ),
)).kind,)
def split_axis(axis: Tensor | None, x: Tensor) -> int:
    """SPLIT / SPLIT_V's constant scalar axis, counted from the front (TFLite Micro accepts a negative one)."""
    if axis is None or not axis.is_constant or axis.dtype != "int32" or axis.size != 1:
        raise ShapeError("axis must be a constant int32 scalar")
    value = int(axis.data.reshape(-1)[0])
    if not -len(x.shape) <= value < len(x.shape):
        raise ShapeError(f"axis {value} is out of range for input '{x.name}' {x.shape}")
    return value % len(x.shape)


def split_sizes(op: Op, inputs: list) -> tuple[int, list[int]]:
    """The axis and the size of each output along it, of a SPLIT (equal parts) or SPLIT_V (its size_splits,
    one -1 taking the rest)."""
    if op.kind == "SPLIT":
        axis_tensor, x = inputs
        axis = split_axis(axis_tensor, x)
        count = op.attrs.num_splits
        if count < 1 or x.shape[axis] % count:
            raise ShapeError(f"num_splits {count} does not divide axis {axis} of '{x.name}' {x.shape}")
        return axis, [x.shape[axis] // count] * count
    x, size_splits, axis_tensor = inputs
    axis = split_axis(axis_tensor, x)
    if not size_splits.is_constant or size_splits.dtype != "int32" or len(size_splits.shape) != 1:
        raise ShapeError("size_splits must be a constant 1-D int32 tensor")
    sizes = [int(v) for v in size_splits.data]
    if len(sizes) != op.attrs.num_splits:
        raise ShapeError(f"size_splits has {len(sizes)} entries, num_splits is {op.attrs.num_splits}")
    if sizes.count(-1) == 1:
        sizes[sizes.index(-1)] = x.shape[axis] - (sum(sizes) + 1)
    if any(size < 1 for size in sizes) or sum(sizes) != x.shape[axis]:
        raise ShapeError(f"size_splits {brief_shape([int(v) for v in size_splits.data])} do not split axis {axis} "
                         f"of '{x.name}' {x.shape} into non-empty parts")
    return axis, sizes


def _split_shapes(op: Op, inputs: list) -> tuple[tuple[int, ...], ...]:
    x = inputs[1] if op.kind == "SPLIT" else inputs[0]
    axis, sizes = split_sizes(op, inputs)
    return tuple((*x.shape[:axis], size, *x.shape[axis + 1:]) for size in sizes)


def _unpack_shapes(op: Op, inputs: list) -> tuple[tuple[int, ...], ...]:
    x, axis = inputs[0], op.attrs.axis
    if not 0 <= axis < len(x.shape):
        raise ShapeError(f"axis {axis} is out of range for input '{x.name}' {x.shape}")
    if op.attrs.num != x.shape[axis]:
        raise ShapeError(f"num {op.attrs.num} is not the size {x.shape[axis]} of axis {axis} of '{x.name}' {x.shape}")
    return ((*x.shape[:axis], *x.shape[axis + 1:]),) * op.attrs.num


def _unpack_axis_from_end(attrs: UnpackAttrs, inputs: list, outputs: list, where: str) -> UnpackAttrs:
    """A negative axis counts from the end of the input (the IR keeps it non-negative)."""
    if attrs.axis < 0 and inputs and inputs[0] is not None:
        return replace(attrs, axis=attrs.axis + len(inputs[0].shape))
    return attrs


SUPPORTED_OPS += tuple(define_op(definition).kind for definition in (
    # Values move unchanged into one output per part (TFLite Micro copies without rescaling).
    OpDef("SPLIT", SplitAttrs, _split_shapes, inputs=(2, 2), constant_slots=(0,), multiple_outputs=True,
          activation_dtypes=INT8_INT16,
          tflite=TfliteOptions("SplitOptions", (("num_splits", "numSplits"),), required=True,
                               version=_version_by_input_type(4, slot=1))),
    OpDef("SPLIT_V", SplitAttrs, _split_shapes, inputs=(3, 3), constant_slots=(1, 2), multiple_outputs=True,
          activation_dtypes=INT8_INT16,
          tflite=TfliteOptions("SplitVOptions", (("num_splits", "numSplits"),), required=True,
                               version=_version_by_input_type(1))),
    OpDef("UNPACK", UnpackAttrs, _unpack_shapes, inputs=(1, 1), multiple_outputs=True, activation_dtypes=INT8_INT16,
          resolve_attrs=_unpack_axis_from_end,
          tflite=TfliteOptions("UnpackOptions", (("num", "num"), ("axis", "axis")), required=True,
                               version=_version_by_input_type(4))),
))
