"""Import an int8 ``.tflite`` flatbuffer into the immutable IR.

Decoding runs in two steps. First the flatbuffer is read into plain Python records through the
schema accessors of tflite-micro's generated Python, with every vector length bounded by the file
size, so garbage bytes fail fast and any decoding exception becomes one ``PqkError``. Then the
records are checked (op support, dtypes, static shapes, buffer sizes) and turned into a ``Graph``,
which finally passes ``verify_graph``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pqk_mcu.errors import PqkError, UnsupportedModelError
from pqk_mcu.frontends.tflite_schema import (
    ACTIVATION_BY_CODE,
    BUILTIN_NAMES,
    DTYPE_BY_TENSOR_TYPE,
    FILE_IDENTIFIER,
    PADDING_BY_CODE,
    SCHEMA_VERSION,
    TENSOR_TYPE_NAMES,
    options_type,
    schema,
)
from pqk_mcu.ir.builder import bias_quant
from pqk_mcu.ir.graph import Graph, Op, QuantParams, Tensor
from pqk_mcu.ir.opdef import OP_DEFS
from pqk_mcu.ir.ops import BIAS_DTYPES
from pqk_mcu.ir.shapes import brief_shape
from pqk_mcu.ir.verify import verify_graph

MAX_MODEL_BYTES = 256 << 20


@dataclass
class _RawTensor:
    name: bytes | None
    shape: list[int]
    shape_signature: list[int] | None
    type: int
    buffer: int
    scale: list[float]
    zero_point: list[int]
    quantized_dimension: int
    is_variable: bool
    sparse: bool


@dataclass
class _RawOp:
    opcode_index: int
    inputs: list[int]
    outputs: list[int]
    options_type: int
    options: object | None


@dataclass
class _RawModel:
    opcodes: list[tuple[int, bytes | None]]
    tensors: list[_RawTensor]
    ops: list[_RawOp]
    inputs: list[int]
    outputs: list[int]
    buffers: list[bytes | None]
    metadata: list[tuple[bytes | None, int]]


def load_tflite(source: str | os.PathLike | bytes | bytearray | memoryview, name: str = "") -> Graph:
    """Read a .tflite file (path or bytes) into a verified ``Graph``.

    Raises ``UnsupportedModelError`` for models pqk-mcu cannot compile (unsupported op, float or
    int16 activations, dynamic shapes) and ``PqkError`` for files that are not valid .tflite.
    Errors start with the file's path, or with ``name`` for bytes read elsewhere.
    """
    label = name
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        label = str(source)
        data = read_model_bytes(source)
    try:
        graph = _build_graph(_decode(data))
        verify_graph(graph)
    except PqkError as error:
        if label:
            raise type(error)(f"{label}: {error}") from None
        raise
    return graph


def tflite_inputs(model_bytes: bytes) -> list[tuple[str, str]]:
    """(IR tensor name, dtype) of each input of the file, in the file's order: the inputs of the graph
    ``load_tflite`` makes, and any it folds into a constant (TFLite Micro still expects them)."""
    raw = _decode(bytes(model_bytes))
    names = _unique_names(raw.tensors)
    return [(names[i], _tensor(raw, i, names[i]).dtype) for i in raw.inputs]


def read_model_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of the model file at ``path`` (a FIFO too), refusing more than ``MAX_MODEL_BYTES``: a
    device such as /dev/zero never ends, and no microcontroller holds such a model anyway."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_MODEL_BYTES + 1)
    except OSError as error:
        raise PqkError(f"cannot read {path}: {error.strerror or error}") from None
    if len(data) > MAX_MODEL_BYTES:
        raise PqkError(f"{path}: larger than {MAX_MODEL_BYTES >> 20} MiB, not a microcontroller model")
    return data


@dataclass(frozen=True)
class OpOutline:
    """One op of a model as stored, whether or not pqk-mcu runs it (``pqk-mcu inspect`` lists these
    for models it cannot compile)."""

    index: int
    kind: str  # TFLite's builtin name, or "custom 'NAME'"
    inputs: list[str]  # "int16[1, 96]" per input, "-" for an absent optional one
    outputs: list[str]
    unsupported: str  # why pqk-mcu cannot run the op ("" when it can)


def outline_tflite(source: str | os.PathLike) -> list[OpOutline]:
    """Every op of the model at ``source`` with its tensors and, for the ops pqk-mcu cannot run, the
    reason. Raises ``PqkError`` where the file cannot be read op by op (malformed, several subgraphs)."""
    raw = _decode(read_model_bytes(source))
    names = _unique_names(raw.tensors)

    def described(index: int) -> str:
        if index == -1:
            return "-"
        if not 0 <= index < len(raw.tensors):
            raise PqkError(f"an op refers to tensor index {index}, but the model has {len(raw.tensors)} tensors")
        t = raw.tensors[index]
        return f"{TENSOR_TYPE_NAMES.get(t.type, str(t.type)).lower()}{brief_shape(t.shape)}"

    outline = []
    for i, op in enumerate(raw.ops):
        code, custom_code = raw.opcodes[op.opcode_index] if 0 <= op.opcode_index < len(raw.opcodes) else (-1, None)
        kind = BUILTIN_NAMES.get(code, f"builtin code {code}")
        if kind == "CUSTOM":
            kind = f"custom '{_text(custom_code, limit=64) if custom_code else '?'}'"
        outline.append(OpOutline(i, kind, [described(x) for x in op.inputs], [described(x) for x in op.outputs],
                                 _unsupported_reason(raw, names, i, op)))
    return outline


def _unsupported_reason(raw: _RawModel, names: list[str], i: int, op: _RawOp) -> str:
    """The refusal ``load_tflite`` would give for op ``i`` alone ("" if none)."""
    try:
        kind = _op_kind(raw, i, op)
        tensors = {index: _tensor(raw, index, names[index]) for index in op.inputs + op.outputs if index >= 0}
        _check_op_dtypes(i, op, kind, tensors)
        _attrs(kind, op, i, [tensors.get(x) for x in op.inputs], [tensors[x] for x in op.outputs])
    except UnsupportedModelError as refusal:
        return str(refusal)
    return ""


# ---------------------------------------------------------------------------------------------
# Step 1: flatbuffer -> plain records


def _decode(data: bytes) -> _RawModel:
    if len(data) < 8:
        raise PqkError(f"not a .tflite model ({len(data)} bytes is too short)")
    if data[4:8] != FILE_IDENTIFIER:
        raise PqkError(f"not a .tflite model (file identifier {data[4:8]!r}, expected {FILE_IDENTIFIER!r})")
    try:
        return _decode_model(data)
    except PqkError:
        raise
    except Exception:  # any decoding failure on malformed bytes becomes one line, in the file's terms
        raise PqkError(f"malformed .tflite flatbuffer (a table, vector or string lies outside the "
                       f"{len(data):,}-byte file or is inconsistent)") from None


def _decode_model(data: bytes) -> _RawModel:
    limit = len(data)

    def length(n: int, element_bytes: int, what: str) -> int:
        if n < 0 or n * element_bytes > limit:
            raise PqkError(f"malformed .tflite flatbuffer ({what} claims {n} entries)")
        return n

    def values(is_none: bool, as_numpy, n: int, element_bytes: int, what: str) -> list:
        if is_none or length(n, element_bytes, what) == 0:
            return []
        return as_numpy().tolist()

    def ints(is_none: bool, as_numpy, n: int, element_bytes: int, what: str) -> list[int]:
        return [int(v) for v in values(is_none, as_numpy, n, element_bytes, what)]

    model = schema.Model.GetRootAs(data, 0)
    if model.Version() != SCHEMA_VERSION:
        raise PqkError(f"unsupported .tflite schema version {model.Version()} (pqk-mcu reads version {SCHEMA_VERSION})")
    n_subgraphs = length(model.SubgraphsLength(), 4, "subgraphs")
    if n_subgraphs != 1:
        raise UnsupportedModelError(f"model has {n_subgraphs} subgraphs; only single-subgraph models are supported")
    opcodes = []
    for i in range(length(model.OperatorCodesLength(), 4, "operator codes")):
        code = model.OperatorCodes(i)
        opcodes.append((max(int(code.DeprecatedBuiltinCode()), int(code.BuiltinCode())), code.CustomCode()))

    subgraph = model.Subgraphs(0)
    tensors = []
    for i in range(length(subgraph.TensorsLength(), 4, "tensors")):
        t = subgraph.Tensors(i)
        quant = t.Quantization()
        scale: list[float] = []
        zero_point: list[int] = []
        dimension = 0
        if quant is not None:
            scale = [float(v) for v in values(quant.ScaleIsNone(), quant.ScaleAsNumpy, quant.ScaleLength(), 4, "scales")]
            zero_point = ints(quant.ZeroPointIsNone(), quant.ZeroPointAsNumpy, quant.ZeroPointLength(), 8, "zero points")
            dimension = int(quant.QuantizedDimension())
        signature = None
        if not t.ShapeSignatureIsNone():
            signature = ints(False, t.ShapeSignatureAsNumpy, t.ShapeSignatureLength(), 4, "shape signature")
        tensors.append(
            _RawTensor(
                name=t.Name(),
                shape=ints(t.ShapeIsNone(), t.ShapeAsNumpy, t.ShapeLength(), 4, "shape"),
                shape_signature=signature,
                type=int(t.Type()),
                buffer=int(t.Buffer()),
                scale=scale,
                zero_point=zero_point,
                quantized_dimension=dimension,
                is_variable=bool(t.IsVariable()),
                sparse=t.Sparsity() is not None,
            )
        )

    ops = []
    for i in range(length(subgraph.OperatorsLength(), 4, "operators")):
        op = subgraph.Operators(i)
        options_type = int(op.BuiltinOptionsType())
        options = None
        if options_type != schema.BuiltinOptions.NONE:
            options = schema.BuiltinOptionsCreator(options_type, op.BuiltinOptions())
        ops.append(
            _RawOp(
                opcode_index=int(op.OpcodeIndex()),
                inputs=ints(op.InputsIsNone(), op.InputsAsNumpy, op.InputsLength(), 4, "operator inputs"),
                outputs=ints(op.OutputsIsNone(), op.OutputsAsNumpy, op.OutputsLength(), 4, "operator outputs"),
                options_type=options_type,
                options=options,
            )
        )

    buffers: list[bytes | None] = []
    for i in range(length(model.BuffersLength(), 4, "buffers")):
        buffer = model.Buffers(i)
        offset, size = int(buffer.Offset()), int(buffer.Size())
        if offset > 1:  # data stored after the flatbuffer (models over 2 GB layout)
            if offset + size > limit:
                raise PqkError(f"malformed .tflite flatbuffer (buffer {i} points past the end of the file)")
            buffers.append(data[offset : offset + size])
        elif buffer.DataIsNone() or length(buffer.DataLength(), 1, f"buffer {i}") == 0:
            buffers.append(None)
        else:
            buffers.append(buffer.DataAsNumpy().tobytes())

    metadata = []
    for i in range(length(model.MetadataLength(), 4, "metadata")):
        entry = model.Metadata(i)
        metadata.append((entry.Name(), int(entry.Buffer())))

    return _RawModel(
        opcodes=opcodes,
        tensors=tensors,
        ops=ops,
        inputs=ints(subgraph.InputsIsNone(), subgraph.InputsAsNumpy, subgraph.InputsLength(), 4, "subgraph inputs"),
        outputs=ints(subgraph.OutputsIsNone(), subgraph.OutputsAsNumpy, subgraph.OutputsLength(), 4, "subgraph outputs"),
        buffers=buffers,
        metadata=metadata,
    )


# ---------------------------------------------------------------------------------------------
# Step 2: records -> Graph


def _build_graph(raw: _RawModel) -> Graph:
    names = _unique_names(raw.tensors)
    kinds = [_op_kind(raw, i, op) for i, op in enumerate(raw.ops)]

    def tensor_ref(index: int, where: str) -> int:
        if not 0 <= index < len(raw.tensors):
            raise PqkError(f"{where} refers to tensor index {index}, but the model has {len(raw.tensors)} tensors")
        return index

    used: set[int] = set()
    op_inputs: list[tuple[str, ...]] = []
    op_outputs: list[tuple[str, ...]] = []
    for i, (op, kind) in enumerate(zip(raw.ops, kinds)):
        inputs = []
        for slot, index in enumerate(op.inputs):
            if index == -1 and slot in OP_DEFS[kind].optional_slots:  # TFLite marks an absent input -1
                inputs.append("")
                continue
            used.add(tensor_ref(index, f"op {i} ({kind}) input {slot}"))
            inputs.append(names[index])
        for slot, index in enumerate(op.outputs):
            used.add(tensor_ref(index, f"op {i} ({kind}) output {slot}"))
        op_inputs.append(tuple(inputs))
        op_outputs.append(tuple(names[index] for index in op.outputs))
    for where, indices in (("graph input", raw.inputs), ("graph output", raw.outputs)):
        for index in indices:
            used.add(tensor_ref(index, where))

    tensors = {index: _tensor(raw, index, names[index]) for index in sorted(used)}
    _check_activation_dtypes(raw, kinds, tensors)
    folded = _fold_output_shape_inputs(raw, kinds, tensors)

    ops = []
    zero_biases: list[Tensor] = []
    taken = set(names)
    for i, (op, kind) in enumerate(zip(raw.ops, kinds)):
        attrs = _attrs(kind, op, i, [tensors.get(x) for x in op.inputs], [tensors[x] for x in op.outputs])
        inputs = op_inputs[i]
        if OP_DEFS[kind].bias_required and len(inputs) >= 2 and (len(inputs) == 2 or not inputs[2]):
            bias = _zero_bias(kind, f"{kind.lower()}_{i}/zero_bias", taken, tensors[op.inputs[0]], tensors[op.inputs[1]])
            if bias is not None:
                zero_biases.append(bias)
                inputs = (inputs[0], inputs[1], bias.name)
        ops.append(Op(kind=kind, name=f"{kind.lower()}_{i}", inputs=inputs, outputs=op_outputs[i], attrs=attrs))

    return Graph(
        tensors=tuple(tensors.values()) + tuple(zero_biases),
        ops=tuple(ops),
        inputs=tuple(names[i] for i in raw.inputs if i not in folded),
        outputs=tuple(names[i] for i in raw.outputs),
        metadata=_metadata(raw),
    )


def _zero_bias(kind: str, base: str, taken: set[str], x: Tensor, weights: Tensor) -> Tensor | None:
    """An explicit zero bias for a conv without one: TFLite Micro's depthwise kernel and litert's
    conv kernels dereference the bias, so the IR always carries it (None if quantization is missing,
    which the verifier then reports)."""
    if x.quant is None or weights.quant is None or len(weights.shape) != 4:
        return None
    name, suffix = base, 1
    while name in taken:
        name, suffix = f"{base}_{suffix}", suffix + 1
    taken.add(name)
    channels = weights.shape[OP_DEFS[kind].weight_axis]
    dtype = BIAS_DTYPES.get(x.dtype, "int32")
    return Tensor(name, (channels,), dtype, bias_quant(x.quant, weights.quant), np.zeros(channels, dtype=dtype))


def _fold_output_shape_inputs(raw: _RawModel, kinds: list[str], tensors: dict[int, Tensor]) -> set[int]:
    """Graph inputs that only feed output-shape operands (SEANet's TRANSPOSE_CONV) become constants of
    the output's shape, in place in ``tensors``: TFLite Micro never reads their value. Returns their
    indices, which leave the graph's inputs."""
    folded: set[int] = set()
    for i, (op, kind) in enumerate(zip(raw.ops, kinds)):
        slot = OP_DEFS[kind].output_shape_slot
        if slot is None or slot >= len(op.inputs) or (tensors[op.inputs[slot]].is_constant
                                                      and op.inputs[slot] not in folded):
            continue
        index, output = op.inputs[slot], tensors[op.outputs[0]]
        t = tensors[index]
        other_uses = [k for k, other in enumerate(raw.ops) for s, x in enumerate(other.inputs)
                      if x == index and s != OP_DEFS[kinds[k]].output_shape_slot]
        if index not in raw.inputs or index in raw.outputs or other_uses or t.dtype != "int32" or t.shape != (4,):
            raise UnsupportedModelError(f"op {i} ({kind}) takes its output shape from tensor {index} '{t.name}', "
                                        "which is not a constant or a graph input only output shapes read")
        if index in folded and tuple(t.data) != output.shape:
            raise UnsupportedModelError(f"op {i} ({kind}) shares output shape tensor {index} '{t.name}' with "
                                        "an op of another output shape")
        tensors[index] = replace(t, data=np.array(output.shape, dtype=np.int32))
        folded.add(index)
    return folded


def _text(raw: bytes, limit: int | None = None) -> str:
    """A name stored in the file as one printable line (error messages are one line): invalid UTF-8
    and control characters become replacement characters; ``limit`` shortens names only shown in messages."""
    text = "".join(ch if ch.isprintable() else "\ufffd" for ch in raw.decode("utf-8", errors="replace"))
    return text if limit is None or len(text) <= limit else text[:limit] + "..."


def _unique_names(raw_tensors: list[_RawTensor]) -> list[str]:
    """Tensor names as stored (in printable form), made unique (the IR keys tensors by name)."""
    taken: set[str] = set()
    names = []
    for index, t in enumerate(raw_tensors):
        base = _text(t.name) if t.name else f"tensor_{index}"
        name = base
        suffix = index
        while name in taken:
            name = f"{base}_{suffix}"
            suffix += 1
        taken.add(name)
        names.append(name)
    return names


def _op_kind(raw: _RawModel, index: int, op: _RawOp) -> str:
    if not 0 <= op.opcode_index < len(raw.opcodes):
        raise PqkError(f"op {index} refers to operator code {op.opcode_index}, but the model has {len(raw.opcodes)}")
    code, custom_code = raw.opcodes[op.opcode_index]
    name = BUILTIN_NAMES.get(code, f"builtin code {code}")
    if name == "CUSTOM":
        custom = _text(custom_code, limit=64) if custom_code else "?"
        raise UnsupportedModelError(f"op {index} is the custom op '{custom}', which pqk-mcu does not support")
    if name not in OP_DEFS:
        raise UnsupportedModelError(f"op {index} ({name}) is not supported by pqk-mcu")
    return name


def _tensor(raw: _RawModel, index: int, name: str) -> Tensor:
    t = raw.tensors[index]
    where = f"tensor {index} '{name}'"
    dtype = DTYPE_BY_TENSOR_TYPE.get(t.type)
    if dtype is None:
        type_name = TENSOR_TYPE_NAMES.get(t.type, str(t.type))
        raise UnsupportedModelError(f"{where} has type {type_name}, which pqk-mcu does not support")
    if t.sparse:
        raise UnsupportedModelError(f"{where} uses TFLite sparse storage, which pqk-mcu does not support")
    if any(d <= 0 for d in t.shape):
        kind = "a dynamic" if any(d < 0 for d in t.shape) else "a zero-sized"
        raise UnsupportedModelError(f"{where} has {kind} shape {brief_shape(t.shape)}; only static non-empty shapes are supported")
    if t.shape_signature and any(d < 0 for d in t.shape_signature[1:]):
        raise UnsupportedModelError(
            f"{where} has a dynamic shape (signature {brief_shape(t.shape_signature)}); only the batch dimension may be dynamic"
        )
    if not 0 <= t.buffer < len(raw.buffers):
        raise PqkError(f"{where} refers to buffer {t.buffer}, but the model has {len(raw.buffers)} buffers")
    data = None
    payload = raw.buffers[t.buffer]
    if payload is not None:
        itemsize = np.dtype(dtype).itemsize
        expected = int(np.prod(t.shape, dtype=np.int64)) * itemsize
        if len(payload) != expected:
            raise PqkError(f"{where} has {len(payload)} bytes of data, its shape {brief_shape(t.shape)} needs {expected}")
        data = np.frombuffer(payload, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(t.shape)
    if t.is_variable and data is not None:
        # pqk-mcu starts every state where TFLite Micro resets it: a stored initial value is refused, not dropped.
        raise UnsupportedModelError(f"{where} is a variable (state) tensor with an initial value, which pqk-mcu does not support")
    return Tensor(name=name, shape=tuple(t.shape), dtype=dtype, quant=_quant(t, where), data=data, variable=t.is_variable)


def _quant(t: _RawTensor, where: str) -> QuantParams | None:
    if not t.scale:
        return None
    zero_point = t.zero_point or [0] * len(t.scale)
    if len(zero_point) != len(t.scale):
        raise PqkError(f"{where} has {len(t.scale)} scales but {len(zero_point)} zero points")
    if len(t.scale) == 1:
        return QuantParams(scale=tuple(t.scale), zero_point=tuple(zero_point))
    axis = t.quantized_dimension
    if len(t.shape) == 1 and t.shape[0] == len(t.scale):
        axis = 0  # old converters copy the filter's quantized dimension onto per-channel biases
    if not 0 <= axis < len(t.shape) or t.shape[axis] != len(t.scale):
        raise PqkError(
            f"{where} has {len(t.scale)} per-channel scales along axis {axis}, which does not match shape {brief_shape(t.shape)}"
        )
    return QuantParams(scale=tuple(t.scale), zero_point=tuple(zero_point), axis=axis)


def _check_activation_dtypes(raw: _RawModel, kinds: list[str], tensors: dict[int, Tensor]) -> None:
    for i, (op, kind) in enumerate(zip(raw.ops, kinds)):
        _check_op_dtypes(i, op, kind, tensors)


def _check_op_dtypes(i: int, op: _RawOp, kind: str, tensors: dict[int, Tensor]) -> None:
    """Activations must be int8, or another type the op's definition lists (int16 on ops with a 16x8
    form); float32 is allowed only on the QUANTIZE/DEQUANTIZE graph edges."""
    definition = OP_DEFS[kind]
    edges = [(index, "input") for slot, index in enumerate(op.inputs)
             if index >= 0 and slot != definition.output_shape_slot]
    edges += [(index, "output") for index in op.outputs]
    for index, role in edges:
        t = tensors[index]
        if t.is_constant or t.variable or t.dtype in definition.activation_dtypes:
            continue  # the op's definition rules a state tensor's dtype (the verifier checks it)
        if t.dtype == "float32" and (
            (definition.float_input and role == "input") or (definition.float_output and role == "output")
        ):
            continue
        if t.dtype == "float32":
            raise UnsupportedModelError(
                f"op {i} ({kind}) has float32 {role} tensor {index} '{t.name}': float models are not supported, "
                "quantize the model to int8"
            )
        raise UnsupportedModelError(
            f"op {i} ({kind}) has {t.dtype} {role} tensor {index} '{t.name}': only int8 activations are supported"
        )


def _activation(code: int, where: str) -> str:
    if code not in ACTIVATION_BY_CODE:
        raise UnsupportedModelError(f"{where} uses fused activation code {code}, which pqk-mcu does not support")
    return ACTIVATION_BY_CODE[code]


def _padding(code: int, where: str) -> str:
    if code not in PADDING_BY_CODE:
        raise PqkError(f"{where} has unknown padding code {code}")
    return PADDING_BY_CODE[code]


def _attrs(kind: str, op: _RawOp, index: int, inputs: list, outputs: list[Tensor]):
    """The op's attributes from its builtin options, as its definition's ``tflite`` spec lays them out."""
    where = f"op {index} ({kind})"
    definition = OP_DEFS[kind]
    spec = definition.tflite
    expected_type = options_type(spec.table)
    options = op.options
    if op.options_type != schema.BuiltinOptions.NONE and op.options_type != expected_type:
        raise PqkError(f"{where} carries builtin options of type {op.options_type}, expected {expected_type}")
    if options is None and spec.required:
        raise PqkError(f"{where} has no builtin options")
    values = {}
    if options is not None:
        for field, supported, meaning in spec.only_values:
            if getattr(options, field) != supported:
                raise UnsupportedModelError(f"{where} {meaning}, which pqk-mcu does not support")
        defaults = definition.attrs()
        for attribute, field in spec.fields:
            values[attribute] = _attribute(attribute, getattr(defaults, attribute), getattr(options, field), where)
    attrs = definition.attrs(**values)
    if definition.resolve_attrs is not None:
        attrs = definition.resolve_attrs(attrs, inputs, outputs, where)
    return attrs


def _attribute(name: str, default, value, where: str):
    """One options field as the IR attribute ``name`` (typed like its default)."""
    if name == "activation":
        return _activation(value, where)
    if name == "padding":
        return _padding(value, where)
    if isinstance(default, tuple):
        return () if value is None else tuple(int(d) for d in value)
    if isinstance(default, bool):
        return bool(value)
    if isinstance(default, float):
        return float(np.float32(value))
    return int(value)


def _metadata(raw: _RawModel) -> tuple[tuple[str, str], ...]:
    """Text metadata entries (name, UTF-8 value); binary entries (e.g. CONVERSION_METADATA) are dropped."""
    entries: dict[str, str] = {}
    for raw_name, buffer_index in raw.metadata:
        name = _text(raw_name) if raw_name else ""
        if not 0 <= buffer_index < len(raw.buffers):
            raise PqkError(f"metadata '{_text(raw_name or b'', limit=64)}' refers to buffer {buffer_index}, but the model has {len(raw.buffers)}")
        payload = raw.buffers[buffer_index] or b""
        try:
            text = payload.rstrip(b"\0").decode("utf-8")
        except UnicodeDecodeError:
            continue
        if not name or any(not ch.isprintable() and ch not in "\n\r\t" for ch in text):
            continue
        entries.setdefault(name, text)
    return tuple(entries.items())
