"""Export the IR as a ``.tflite`` flatbuffer that TFLite Micro and ai-edge-litert both run.

The layout mirrors the TFLite converter: buffer 0 is the empty sentinel, every constant tensor
owns one 16-byte-aligned buffer, activations point at buffer 0, and ``Graph.metadata`` entries
become UTF-8 metadata buffers. ``load_tflite(export_tflite(g)) == g`` for every verified graph
whose op names follow the importer's ``<kind>_<index>`` scheme, that has no tensor outside every
op and graph edge, and whose metadata values are printable text.
"""

from __future__ import annotations

import os

import flatbuffers
import numpy as np

from pqk_mcu import __version__
from pqk_mcu.atomic import write_bytes_atomic
from pqk_mcu.frontends.tflite_schema import (
    ACTIVATION_CODES,
    BUILTIN_CODES,
    FILE_IDENTIFIER,
    PADDING_CODES,
    PLACEHOLDER_FOR_GREATER_OP_CODES,
    SCHEMA_VERSION,
    TENSOR_TYPE_BY_DTYPE,
    new_options,
    options_type,
    schema,
)
from pqk_mcu.ir.graph import Graph, Op, Tensor
from pqk_mcu.ir.opdef import OP_DEFS
from pqk_mcu.ir.verify import verify_graph

BUFFER_ALIGNMENT = 16

class _AlignedBufferT(schema.BufferT):
    """A Buffer whose data starts on a 16-byte boundary (kernels may read int32/SIMD data in place)."""

    def Pack(self, builder):
        data = None
        if self.data is not None:
            builder.StartVector(1, len(self.data), BUFFER_ALIGNMENT)
            builder.head -= len(self.data)
            builder.Bytes[builder.head : builder.head + len(self.data)] = self.data
            data = builder.EndVector()
        schema.BufferStart(builder)
        if data is not None:
            schema.BufferAddData(builder, data)
        return schema.BufferEnd(builder)


def export_tflite(graph: Graph) -> bytes:
    """Serialize a verified ``Graph`` to .tflite bytes (deterministic: same graph, same bytes)."""
    verify_graph(graph)
    # Like the importer, keep only tensors an op or a graph edge refers to.
    used = set(graph.inputs) | set(graph.outputs)
    for op in graph.ops:
        used.update(name for name in op.inputs + op.outputs if name)
    buffers = [_AlignedBufferT()]
    tensor_index: dict[str, int] = {}
    tensors = []
    for t in graph.tensors:
        if t.name not in used:
            continue
        buffer = 0
        if t.is_constant:
            buffer = len(buffers)
            aligned = _AlignedBufferT()
            aligned.data = np.ascontiguousarray(t.data).astype(np.dtype(t.dtype).newbyteorder("<")).tobytes()
            buffers.append(aligned)
        tensor_index[t.name] = len(tensors)
        tensors.append(_tensor(t, buffer))

    opcodes: list = []
    opcode_index: dict[tuple[str, int], int] = {}
    operators = []
    for op in graph.ops:
        version = OP_DEFS[op.kind].tflite.operator_version(op, graph)
        key = (op.kind, version)
        if key not in opcode_index:
            opcode_index[key] = len(opcodes)
            opcodes.append(_opcode(op.kind, version))
        operator = schema.OperatorT()
        operator.opcodeIndex = opcode_index[key]
        operator.inputs = [tensor_index[name] if name else -1 for name in op.inputs]
        operator.outputs = [tensor_index[name] for name in op.outputs]
        intermediates = OP_DEFS[op.kind].tflite.intermediates
        if intermediates is not None:
            extra = [_tensor(t, 0) for t in intermediates(op, graph)]
            operator.intermediates = list(range(len(tensors), len(tensors) + len(extra)))
            tensors.extend(extra)
        options = _options(op)
        if options is not None:
            operator.builtinOptionsType = options_type(OP_DEFS[op.kind].tflite.table)
            operator.builtinOptions = options
        operators.append(operator)

    subgraph = schema.SubGraphT()
    subgraph.tensors = tensors
    subgraph.inputs = [tensor_index[name] for name in graph.inputs]
    subgraph.outputs = [tensor_index[name] for name in graph.outputs]
    subgraph.operators = operators
    subgraph.name = "main"

    metadata = []
    for key, value in graph.metadata:
        entry = schema.MetadataT()
        entry.name = key
        entry.buffer = len(buffers)
        text_buffer = _AlignedBufferT()
        text_buffer.data = value.encode("utf-8")
        buffers.append(text_buffer)
        metadata.append(entry)

    model = schema.ModelT()
    model.version = SCHEMA_VERSION
    model.operatorCodes = opcodes
    model.subgraphs = [subgraph]
    model.description = f"pqk-mcu {__version__}"
    model.buffers = buffers
    model.metadata = metadata or None

    builder = flatbuffers.Builder(1024 + sum(len(b.data or b"") for b in buffers) * 2)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def save_tflite(graph: Graph, path: str | os.PathLike) -> None:
    """Write ``export_tflite(graph)`` to ``path`` atomically."""
    write_bytes_atomic(path, export_tflite(graph))


def _tensor(t: Tensor, buffer: int):
    result = schema.TensorT()
    result.shape = np.array(t.shape, dtype=np.int32)
    result.type = TENSOR_TYPE_BY_DTYPE[t.dtype]
    result.buffer = buffer
    result.name = t.name
    result.isVariable = t.variable
    if t.quant is not None:
        quant = schema.QuantizationParametersT()
        quant.scale = np.array(t.quant.scale, dtype=np.float32)
        quant.zeroPoint = np.array(t.quant.zero_point, dtype=np.int64)
        quant.quantizedDimension = t.quant.axis or 0
        result.quantization = quant
    return result


def _opcode(kind: str, version: int):
    code = BUILTIN_CODES[kind]
    result = schema.OperatorCodeT()
    result.builtinCode = code
    result.deprecatedBuiltinCode = min(code, PLACEHOLDER_FOR_GREATER_OP_CODES)
    result.version = version
    return result


def _options(op: Op):
    """The op's builtin options object, laid out as its definition's ``tflite`` spec says (None: no table)."""
    spec = OP_DEFS[op.kind].tflite
    if spec.table is None:
        return None
    options = new_options(spec.table)
    for attribute, field in spec.fields:
        value = getattr(op.attrs, attribute)
        if attribute == "activation":
            value = ACTIVATION_CODES[value]
        elif attribute == "padding":
            value = PADDING_CODES[value]
        elif isinstance(value, tuple):
            value = np.array(value, dtype=np.int32)
        setattr(options, field, value)
    return options
