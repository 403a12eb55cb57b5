"""Graph verifier: structure, shapes, dtypes and quantization. Every pass output goes through it.

Errors name the op as ``op <index> (<KIND>)`` or the tensor as ``tensor '<name>'`` so a user (or
a pass author) can find the culprit in ``pqk-mcu inspect``.
"""

from __future__ import annotations

import math

from pqk_mcu.errors import PqkError
from pqk_mcu.ir.graph import DTYPES, Graph, Op, Tensor
from pqk_mcu.ir.opdef import OP_DEFS, OpDef
from pqk_mcu.ir.ops import ACTIVATIONS, BIAS_DTYPES, PADDINGS
from pqk_mcu.ir.shapes import ShapeError, infer_output_shapes

# The bias scale is not read by TFLite Micro's kernels (they use input_scale * filter_scale); the
# check catches mis-wired biases. Converters round the product to float32 in different orders, so
# compare with a relative tolerance well above float32 epsilon.
BIAS_SCALE_RTOL = 1e-4
INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}
# TFLite Micro's kernels (concatenation, broadcasting ADD/MUL) handle at most 6 dimensions.
MAX_RANK = 6


def verify_graph(graph: Graph) -> None:
    """Raise ``PqkError`` naming the first op or tensor that breaks an IR invariant."""
    tensors = _check_tensors(graph)
    _check_structure(graph, tensors)
    for index, op in enumerate(graph.ops):
        where = f"op {index} ({op.kind})"
        try:
            shapes = infer_output_shapes(op, tensors)
        except ShapeError as error:
            raise PqkError(f"{where}: {error}") from None
        if len(shapes) != len(op.outputs):
            raise PqkError(f"{where}: has {len(op.outputs)} outputs, the op produces {len(shapes)}")
        for name, shape in zip(op.outputs, shapes):
            if tensors[name].shape != shape:
                raise PqkError(f"{where}: output '{name}' has shape {tensors[name].shape}, the op produces {shape}")
        _check_quantization(op, where, tensors)


def _check_tensors(graph: Graph) -> dict[str, Tensor]:
    tensors: dict[str, Tensor] = {}
    for t in graph.tensors:
        if not t.name:
            raise PqkError("a tensor has an empty name")
        if t.name in tensors:
            raise PqkError(f"tensor '{t.name}' is defined twice")
        if t.dtype not in DTYPES:
            raise PqkError(f"tensor '{t.name}' has unknown dtype {t.dtype}")
        if len(t.shape) > MAX_RANK:
            raise PqkError(f"tensor '{t.name}' has rank {len(t.shape)}; at most {MAX_RANK} dimensions are supported")
        if any(d <= 0 for d in t.shape):
            raise PqkError(f"tensor '{t.name}' has a non-positive dimension in shape {t.shape}")
        if t.quant is not None:
            _check_quant_params(t)
        if t.variable and t.is_constant:
            raise PqkError(f"tensor '{t.name}' is a variable (state) tensor with constant data")
        tensors[t.name] = t
    return tensors


def _check_quant_params(t: Tensor) -> None:
    q = t.quant
    where = f"tensor '{t.name}'"
    if not q.scale or len(q.scale) != len(q.zero_point):
        raise PqkError(f"{where}: {len(q.scale)} scales and {len(q.zero_point)} zero points")
    if any(not math.isfinite(s) or s <= 0 for s in q.scale):
        raise PqkError(f"{where}: scales must be positive and finite, got {list(q.scale)[:4]}")
    if q.axis is None:
        if len(q.scale) != 1:
            raise PqkError(f"{where}: {len(q.scale)} scales without a quantized axis")
    elif not 0 <= q.axis < len(t.shape) or t.shape[q.axis] != len(q.scale):
        raise PqkError(f"{where}: {len(q.scale)} scales along axis {q.axis} do not match shape {t.shape}")
    low_high = INT_RANGES.get(t.dtype)
    if low_high and any(not low_high[0] <= z <= low_high[1] for z in q.zero_point):
        raise PqkError(f"{where}: zero point out of {t.dtype} range")


def _check_structure(graph: Graph, tensors: dict[str, Tensor]) -> None:
    available = set()
    for name in graph.inputs:
        if name not in tensors:
            raise PqkError(f"graph input '{name}' is not a tensor of the graph")
        if tensors[name].is_constant:
            raise PqkError(f"graph input '{name}' is a constant")
        if tensors[name].variable:
            raise PqkError(f"graph input '{name}' is a variable (state) tensor")
        available.add(name)
    available.update(name for name, t in tensors.items() if t.is_constant or t.variable)
    for index, op in enumerate(graph.ops):
        where = f"op {index} ({op.kind})"
        definition = OP_DEFS.get(op.kind)
        if definition is None:
            raise PqkError(f"{where}: unknown op kind")
        if type(op.attrs) is not definition.attrs:
            raise PqkError(f"{where}: attrs are {type(op.attrs).__name__}, expected {definition.attrs.__name__}")
        _check_attrs(op, where)
        low, high = definition.inputs
        if not low <= len(op.inputs) <= high:
            raise PqkError(f"{where}: has {len(op.inputs)} inputs, expected {low}..{high}")
        max_rank = definition.max_input_rank
        if max_rank is not None and op.inputs[0] in tensors and len(tensors[op.inputs[0]].shape) > max_rank:
            rank = len(tensors[op.inputs[0]].shape)
            raise PqkError(f"{where}: input rank {rank} exceeds {max_rank}, the most TFLite Micro supports")
        if definition.bias_required and (len(op.inputs) < 3 or not op.inputs[2]):
            raise PqkError(f"{where}: needs a bias tensor (int32 zeros when the layer has none)")
        for slot, name in enumerate(op.inputs):
            if not name:
                if slot not in definition.optional_slots:
                    raise PqkError(f"{where}: input {slot} is missing")
                continue
            if name not in tensors:
                raise PqkError(f"{where}: input {slot} names unknown tensor '{name}'")
            if (slot in definition.state_slots) != tensors[name].variable:
                needs = "must be" if slot in definition.state_slots else "cannot be"
                raise PqkError(f"{where}: input {slot} '{name}' {needs} a variable (state) tensor")
            if name not in available:
                raise PqkError(f"{where}: input '{name}' is used before any op produces it")
            if slot in definition.constant_slots and not tensors[name].is_constant:
                raise PqkError(f"{where}: input {slot} '{name}' must be a constant")
        if len(op.outputs) != 1 and not (definition.multiple_outputs and op.outputs):
            raise PqkError(f"{where}: has {len(op.outputs)} outputs, expected 1")
        for name in op.outputs:
            if name not in tensors:
                raise PqkError(f"{where}: output names unknown tensor '{name}'")
            if name in available:
                raise PqkError(f"{where}: output '{name}' is already a graph input, constant or another op's output")
            available.add(name)
    for name in graph.outputs:
        if name not in tensors:
            raise PqkError(f"graph output '{name}' is not a tensor of the graph")
        if name not in available or tensors[name].is_constant:
            raise PqkError(f"graph output '{name}' is not produced by any op")
    if not graph.inputs or not graph.outputs:
        raise PqkError("the graph needs at least one input and one output")


def _check_attrs(op: Op, where: str) -> None:
    a = op.attrs
    activation = getattr(a, "activation", "NONE")
    if activation not in ACTIVATIONS:
        raise PqkError(f"{where}: unknown activation {activation!r}")
    if activation != "NONE" and not OP_DEFS[op.kind].fuses_activation:
        raise PqkError(f"{where}: fused activation {activation} is not supported on {op.kind} (TFLite Micro rejects it)")
    padding = getattr(a, "padding", "VALID")
    if padding not in PADDINGS:
        raise PqkError(f"{where}: unknown padding {padding!r}")
    for field in ("stride_h", "stride_w", "dilation_h", "dilation_w", "filter_h", "filter_w", "depth_multiplier"):
        value = getattr(a, field, 1)
        if not isinstance(value, int) or value < 1:
            raise PqkError(f"{where}: {field} must be a positive integer, got {value!r}")


def _check_quantization(op: Op, where: str, tensors: dict[str, Tensor]) -> None:
    inputs = [tensors[name] if name else None for name in op.inputs]
    output = tensors[op.outputs[0]]
    definition = OP_DEFS[op.kind]
    for slot, t in enumerate(inputs):
        if t is None or slot in definition.constant_slots or slot in definition.state_slots:
            continue
        if definition.float_input and t.dtype == "float32":
            continue
        _check_activation(t, where, definition)
    widened = (output.dtype == "int16" and definition.int16_output_quant is not None
               and inputs[0] is not None and inputs[0].dtype == "int8")
    if definition.float_output:
        if output.dtype != "float32":
            raise PqkError(f"{where}: output '{output.name}' must be float32, is {output.dtype}")
    elif widened:
        if output.per_tensor_quant is None:
            raise PqkError(f"{where}: int16 tensor '{output.name}' needs per-tensor quantization")
    else:
        _check_activation(output, where, definition)

    if not definition.converts_dtype:
        input_dtype = "int8" if widened else output.dtype
        for slot, t in enumerate(inputs):
            if t is None or slot in definition.constant_slots or slot in definition.state_slots:
                continue  # the op's check_operands rules a state tensor's dtype (SVDF: int8 or int16)
            if t.dtype != input_dtype:
                raise PqkError(f"{where}: input '{t.name}' is {t.dtype}, output '{output.name}' {output.dtype}; they must agree")
    elif inputs[0].dtype == "float32" and output.dtype != "int8":
        raise PqkError(f"{where}: a float32 input quantizes to int8 only, output '{output.name}' is {output.dtype}")

    if definition.multiple_outputs:
        source = next(t for slot, t in enumerate(inputs) if t is not None and slot not in definition.constant_slots)
        for t in (tensors[name] for name in op.outputs):
            if t.dtype != source.dtype or t.quant != source.quant:
                raise PqkError(f"{where}: output '{t.name}' must keep input '{source.name}''s type and quantization "
                               f"({t.dtype} {_describe(t.quant)} vs {source.dtype} {_describe(source.quant)})")
    if definition.weighted:
        _check_weights(op, where, inputs)
    if definition.check_operands is not None:
        definition.check_operands(inputs, output, where)
    if definition.same_quant:
        for t in inputs[: 1 if definition.same_quant == "first" else None]:
            if t.quant != output.quant:
                raise PqkError(
                    f"{where}: input '{t.name}' and output '{output.name}' must share scale and zero point "
                    f"({_describe(t.quant)} vs {_describe(output.quant)})"
                )
    if widened:
        fixed_quant = definition.int16_output_quant
    elif output.dtype == "int16" and definition.int16_form_output_quant is not None:
        fixed_quant = definition.int16_form_output_quant
    else:
        fixed_quant = definition.fixed_output_quant
    if fixed_quant is not None:
        scale, zero_point = fixed_quant
        # Same acceptance as TFLite Micro's TF_LITE_ENSURE_NEAR(scale, 1/256, 0.001/256): its kernels
        # assume the exact scale and ignore the stored one.
        if not math.isclose(output.quant.scale[0], scale, rel_tol=1e-3) or output.quant.zero_point[0] != zero_point:
            raise PqkError(
                f"{where}: output '{output.name}' must have scale {scale} and zero point {zero_point}, "
                f"has {_describe(output.quant)}"
            )


def _check_activation(t: Tensor, where: str, definition: OpDef) -> None:
    if t.is_constant and t.dtype == "int8" and t.quant is not None and t.quant.axis is None:
        return  # a constant operand of ADD/MUL/CONCATENATION is fine when quantized per tensor
    if t.dtype != "int8" and t.dtype in definition.activation_dtypes:
        _check_wide_activation(t, where, symmetric=not definition.converts_dtype)
        return
    if t.dtype != "int8":
        raise PqkError(f"{where}: tensor '{t.name}' is {t.dtype}; activations must be int8")
    if t.quant is None or t.quant.axis is not None:
        raise PqkError(f"{where}: int8 tensor '{t.name}' needs per-tensor quantization")


def _check_wide_activation(t: Tensor, where: str, symmetric: bool) -> None:
    """int16 / int32 activations: per tensor; TFLite's 16x8 kernels require int16 ones symmetric, its
    Requantize (QUANTIZE) takes any zero point (SOFTMAX's int16 output has -32768)."""
    if t.quant is None or t.quant.axis is not None:
        raise PqkError(f"{where}: {t.dtype} tensor '{t.name}' needs per-tensor quantization")
    if symmetric and t.dtype == "int16" and t.quant.zero_point[0] != 0:
        raise PqkError(f"{where}: int16 tensor '{t.name}' has zero point {t.quant.zero_point[0]}; int16 activations need 0")


def _check_weights(op: Op, where: str, inputs: list) -> None:
    x, w = inputs[0], inputs[1]
    if w.dtype != "int8" or w.quant is None:
        raise PqkError(f"{where}: weights '{w.name}' must be quantized int8, are {w.dtype}")
    if any(z != 0 for z in w.quant.zero_point):
        raise PqkError(f"{where}: weights '{w.name}' must be symmetric (zero point 0)")
    axis = OP_DEFS[op.kind].weight_axis
    if w.quant.axis is not None and w.quant.axis != axis:
        raise PqkError(f"{where}: weights '{w.name}' are quantized along axis {w.quant.axis}, expected {axis}")
    bias = inputs[2] if len(inputs) > 2 else None
    if bias is None:
        return
    bias_dtype = BIAS_DTYPES[x.dtype]
    if bias.dtype != bias_dtype:
        raise PqkError(f"{where}: bias '{bias.name}' must be {bias_dtype}, is {bias.dtype}")
    if bias.quant is None or any(z != 0 for z in bias.quant.zero_point):
        raise PqkError(f"{where}: bias '{bias.name}' must be quantized with zero point 0")
    out_channels = bias.shape[0]
    weight_scales = w.quant.scale if len(w.quant.scale) > 1 else w.quant.scale * out_channels
    bias_scales = bias.quant.scale if len(bias.quant.scale) > 1 else bias.quant.scale * out_channels
    if len(bias_scales) != out_channels or len(weight_scales) != out_channels:
        raise PqkError(f"{where}: bias '{bias.name}' and weights '{w.name}' disagree on the number of channels")
    input_scale = x.quant.scale[0]
    for channel, (ws, bs) in enumerate(zip(weight_scales, bias_scales)):
        if not math.isclose(bs, input_scale * ws, rel_tol=BIAS_SCALE_RTOL):
            raise PqkError(
                f"{where}: bias '{bias.name}' channel {channel} has scale {bs:.6g}, "
                f"expected input scale x weight scale = {input_scale * ws:.6g}"
            )


def _describe(q) -> str:
    if q is None:
        return "no quantization"
    return f"scale {q.scale[0]:.6g}, zero point {q.zero_point[0]}"
