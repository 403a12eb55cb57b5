"""Lowering: each op of an int8 graph -> a kernel call with its constant data, as plain values.

The result of ``lower_graph`` is data only: per layer, the C kernel to call (``kernel``), its
arguments (symbols or tensor references that the memory plan later turns into pointers), and the
constant arrays and parameter structs it needs, with every multiplier, shift, folded bias,
padding offset, clamp and table computed here in Python. Templates then only loop over it.

Kernel choice is data: ``Layer.kernel`` names the C function, so an optimized variant is another
name (and a row in ``pqk_mcu.codegen.cost_model.KERNEL_COSTS``), not template logic.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from pqk_mcu.errors import UnsupportedModelError
from pqk_mcu.ir.graph import Graph, Op, Tensor
from pqk_mcu.ir.opdef import OP_DEFS, Implementations
from pqk_mcu.ir.ops import split_sizes
from pqk_mcu.ir.shapes import (
    conv_output_size,
    nearest_source_indices,
    normalized_axes,
    padding_before,
    strided_slice_axes,
    transpose_conv_padding,
    transpose_permutation,
)
from pqk_mcu.reference import unary_table
from pqk_mcu.codegen.cost_model import (
    FORWARD_WRITE_BLOCKS,
    FULLY_CONNECTED_NARROW_DSP,
    ORDERED_WRITE_BLOCKS,
    KernelChoice,
    Layout,
    Target,
    add_requantization,
    average_pool_kernel,
    choose_add_kernel,
    choose_lstm_kernel,
    choose_model_kernels,
    choose_svdf_kernel,
    choose_transpose_conv_kernel,
    conv_gather_offsets,
    fast_requant_bounds_hold,
    fast_requant_exact,
    gather_row_width,
    kernel_choices,
    kernel_code_bytes,
)
from pqk_mcu.codegen.memory import write_lead
from pqk_mcu.codegen.weights import (
    CsrMatrix,
    GatherCsr,
    GatherRows,
    GatherTaps,
    PackedCsr,
    WideCsr,
    depthwise_offsets,
    encode_channel_pairs,
    encode_channel_quads,
    encode_channel_quads_s16,
    encode_csr,
    encode_depthwise_lanes,
    encode_gather,
    encode_gather_rows,
    encode_gather_taps,
    encode_narrow,
    encode_packed,
    encode_row_chunks,
    encode_row_quads,
    encode_wide,
)
from pqk_mcu.quant import (
    ADD_LEFT_SHIFT_INT16,
    activation_range,
    add_input_table,
    add_params,
    conv_multipliers,
    fully_connected_multiplier,
    leaky_relu_multipliers,
    mean_multiplier,
    mul_multiplier,
    multiply_by_quantized_multiplier_array,
    requantize_multiplier,
    softmax_params,
    srdhm_array,
    wrap_int32,
)
from pqk_mcu.quant import gemmlowp
from pqk_mcu.quant.params import SOFTMAX_SCALED_DIFF_INTEGER_BITS, lstm_params, lstm_tanh_input_scaling, svdf_multipliers
from pqk_mcu.quant.int16_activations import (
    MAX_SIGMOID_INPUT_MULTIPLIER_INT16,
    SIGMOID_TABLE_UINT16,
    sigmoid_input_params_int16,
    softmax_input_params_int16,
    softmax_luts_int16,
)

ARRAY_CATEGORIES = ("weights", "indices", "requant", "tables")
# Packed CSR's interleaved nonzeros (uint16: a 9-bit doubled value, a row-end bit, a 6-bit column): the
# flash report counts each entry as one value byte (weights) and one column byte (indices).
VALUE_COLUMNS = "value_columns"


@dataclass(frozen=True)
class TensorRef:
    """An activation tensor used as a kernel argument; the memory plan resolves it to a pointer."""

    name: str


@dataclass(frozen=True)
class CArray:
    name: str
    ctype: str
    values: tuple[int, ...]
    category: str
    exported: bool  # referenced from model.c (otherwise static in model_weights.c)

    @property
    def nbytes(self) -> int:
        return len(self.values) * np.dtype(self.ctype.removesuffix("_t")).itemsize


@dataclass(frozen=True)
class CStruct:
    """A const struct with designated initializers ``(field path, C value)``."""

    name: str
    ctype: str
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[str | TensorRef, ...]


@dataclass
class Layer:
    index: int
    op: Op
    output: str
    kernel: str  # C function ("" when the op is a no-op alias)
    weight_format: str = "-"  # dense / csr for weighted layers
    sparsity: float = 0.0
    macs: int = 0
    estimated_instructions: int = 0
    calls: list[Call] = field(default_factory=list)
    pointer_arrays: list[tuple[str, tuple[str | TensorRef, ...]]] = field(default_factory=list)
    alias_of: str | None = None  # RESHAPE, SQUEEZE: the input whose bytes the output reuses
    scratch_bytes: int = 0
    in_place_of: str | None = None  # input the kernel may overwrite with its output (memory plan decides)
    in_place_lead: int = 0  # bytes the output must start before that input (0: at it)
    cost_shape: tuple[np.ndarray, Layout] | None = None  # weight matrix and layout the cost model saw
    packed_requant: bool = False  # the weights struct carries the requantization (packed format)
    requant_checked: bool = False  # a *_dsp / *_smlal / *_mve kernel with channels outside the fast bounds

    @property
    def scratch_name(self) -> str:
        """The scratch area's name: the kernel call's last argument and its entry in the memory plan."""
        return f"pqk_op{self.index}_scratch"


class SymbolTable:
    """Constant arrays and structs of one model; identical arrays are stored once."""

    def __init__(self) -> None:
        self.arrays: list[CArray] = []
        self.structs: list[CStruct] = []
        self._by_content: dict[tuple, str] = {}

    @staticmethod
    def _key(ctype: str, values, exported: bool) -> tuple:
        return ctype, tuple(int(v) for v in np.asarray(values).reshape(-1).tolist()), exported

    def array(self, name: str, ctype: str, values, category: str, exported: bool = False) -> str:
        key = self._key(ctype, values, exported)
        if key in self._by_content:
            return self._by_content[key]
        self.arrays.append(CArray(name, ctype, key[1], category, exported))
        self._by_content[key] = name
        return name

    def stored(self, ctype: str, values, exported: bool = False) -> bool:
        """Whether ``array`` would return an array already stored (no new flash bytes)."""
        return self._key(ctype, values, exported) in self._by_content

    def struct(self, name: str, ctype: str, fields: list[tuple[str, object]]) -> str:
        self.structs.append(CStruct(name, ctype, tuple((path, _c_value(value)) for path, value in fields)))
        return name

    def bytes_by_category(self) -> dict[str, int]:
        totals = {category: 0 for category in ARRAY_CATEGORIES}
        for array in self.arrays:
            if array.category == VALUE_COLUMNS:
                totals["weights"] += array.nbytes // 2
                totals["indices"] += array.nbytes // 2
            else:
                totals[array.category] += array.nbytes
        return totals


def _c_value(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        value = int(value)
        # INT32_MIN has no literal form in C.
        return "(-2147483647 - 1)" if value == -(1 << 31) else str(value)
    return str(value)


def _scale_zp(tensor: Tensor, role: str, op: Op) -> tuple[float, int]:
    quant = tensor.per_tensor_quant
    if quant is None or tensor.dtype != "int8":
        raise UnsupportedModelError(f"op {op.name} ({op.kind}): {role} '{tensor.name}' must be per-tensor int8")
    return quant


def _fold_zero_point(bias: np.ndarray, matrix: np.ndarray, input_zp: int) -> np.ndarray:
    """bias + (-input_zero_point) * row sums: the kernels then multiply raw int8 values."""
    return wrap_int32(bias.astype(np.int64) - input_zp * matrix.astype(np.int64).sum(axis=1))


def _element_suffix(tensor: Tensor) -> str:
    """The C kernel name's element type for a data-movement op: s8, or s16 in 16x8 models."""
    return "s16" if tensor.dtype == "int16" else "s8"


def _element_strides(shape: tuple[int, ...]) -> list[int]:
    """Row-major strides of ``shape`` in elements."""
    return [int(np.prod(shape[axis + 1:], dtype=np.int64)) for axis in range(len(shape))]


# Op kind -> Lowering method that fills a Layer with the op's kernel calls and constant data.
LOWERINGS: Implementations[Callable[["Lowering", Layer, Op], None]] = Implementations("lowering")


class Lowering:
    def __init__(self, graph: Graph, weight_format: str, target: Target | None = None, symbol_prefix: str = "pqk") -> None:
        self.graph = graph
        self.symbol_prefix = symbol_prefix
        self.tensors = graph.tensor_map
        self.weight_format = weight_format
        self.target = target or Target()
        self.symbols = SymbolTable()
        self.layer_choices: dict[int, list[KernelChoice]] = {}  # weighted layer index -> its kernel_choices
        self.model_kernels: dict[int, str] = {}  # layer index -> the kernel choose_model_kernels gave it instead

    def lower(self) -> list[Layer]:
        if not self.graph.ops:
            raise UnsupportedModelError("the model has no ops to generate code for")
        layers = self._lower_ops()
        indices = sorted(self.layer_choices)
        chosen = choose_model_kernels([self.layer_choices[index] for index in indices], kernel_code_bytes(self.target))
        self.model_kernels = {index: choice.kernel for index, choice in zip(indices, chosen)
                              if choice.kernel != self.layer_choices[index][0].kernel}
        if self.model_kernels:  # lowered again with those kernels: their data and symbols from scratch
            self.symbols = SymbolTable()
            layers = self._lower_ops()
        return layers

    def _lower_ops(self) -> list[Layer]:
        layers = []
        for index, op in enumerate(self.graph.ops):
            lowering = LOWERINGS.get(op.kind)
            if lowering is None or self._has_float_edge(op):
                raise UnsupportedModelError(
                    f"op {index} ({op.kind}) cannot run in the int8 C core"
                    + (" (float QUANTIZE/DEQUANTIZE only at graph inputs/outputs)" if lowering else "")
                )
            layer = Layer(index=index, op=op, output=op.outputs[0], kernel="")
            lowering(self, layer, op)
            if layer.scratch_bytes:
                # Kernels with scratch take it as their last argument; the memory plan places it.
                call = layer.calls[-1]
                layer.calls[-1] = Call(call.function, (*call.args, TensorRef(layer.scratch_name)))
            layers.append(layer)
        return layers

    # -- helpers --------------------------------------------------------------------------------

    def _has_float_edge(self, op: Op) -> bool:
        """A float32 QUANTIZE input or DEQUANTIZE output: the host converts those, not the C core."""
        definition = OP_DEFS[op.kind]
        return (definition.float_input and self.tensors[op.inputs[0]].dtype == "float32") or definition.float_output

    def _prefix(self, layer: Layer) -> str:
        return f"{self.symbol_prefix}_op{layer.index}"

    def _operand(self, layer: Layer, slot: int) -> str | TensorRef:
        """Input ``slot`` of the layer's op: an activation, or a constant int8 (int16) array in flash."""
        tensor = self.tensors[layer.op.inputs[slot]]
        if not tensor.is_constant:
            return TensorRef(tensor.name)
        if tensor.dtype not in ("int8", "int16"):
            raise UnsupportedModelError(f"op {layer.op.name} ({layer.op.kind}): constant input '{tensor.name}' is {tensor.dtype}")
        return self.symbols.array(f"{self._prefix(layer)}_input{slot}", f"{tensor.dtype}_t", tensor.data, "weights",
                                  exported=True)

    def _requant_fields(self, layer: Layer, op: Op, bias, multiplier, shift) -> list[tuple[str, object]]:
        prefix = self._prefix(layer)
        out_scale, out_zp = _scale_zp(self.tensors[op.outputs[0]], "output", op)
        low, high = activation_range(op.attrs.activation, out_scale, out_zp)
        if layer.packed_requant:
            # The packed weights carry bias, multiplier and shift (weights.PackedCsr, weights.WideCsr).
            return [("requant.output_zero_point", out_zp), ("requant.activation_min", low),
                    ("requant.activation_max", high)] + (
                [("requant.checked", 1)] if layer.requant_checked else [])
        if np.asarray(shift).size and int(np.max(shift)) > 31:
            # pqk_requantize shifts a 32-bit accumulator left by the shift (stored as int8).
            raise UnsupportedModelError(
                f"op {op.name} ({op.kind}): requantization scale too large (left shift {int(np.max(shift))} > 31)"
            )
        # pqk_fully_connected_s8_narrow_dsp's weight records carry the bias
        return ([] if layer.kernel == FULLY_CONNECTED_NARROW_DSP else [
            ("requant.bias", self.symbols.array(f"{prefix}_bias", "int32_t", bias, "requant"))]) + [
            ("requant.multiplier", self.symbols.array(f"{prefix}_multiplier", "int32_t", multiplier, "requant")),
            ("requant.shift", self.symbols.array(f"{prefix}_shift", "int8_t", shift, "requant")),
            ("requant.output_zero_point", out_zp),
            ("requant.activation_min", low),
            ("requant.activation_max", high),
        ] + ([("requant.checked", 1)] if layer.requant_checked else [])

    def _folded_bias(self, op: Op, matrix: np.ndarray, input_zp: int) -> np.ndarray:
        """The op's bias (zeros without one) with the input zero point folded in (``_fold_zero_point``)."""
        rows = matrix.shape[0]
        bias = np.zeros(rows, dtype=np.int64)
        if len(op.inputs) > 2 and op.inputs[2]:
            bias = self.tensors[op.inputs[2]].data.astype(np.int64).reshape(-1)
        return _fold_zero_point(bias, matrix, input_zp)

    def _weights(self, layer: Layer, matrix: np.ndarray, dense_values: np.ndarray, dense_kernel: str,
                 positions: int, requant: tuple | None = None, per_channel: bool = True) -> str:
        """Store the weights in the format of the kernel the cost model picks; returns the weights argument.

        ``requant`` is (folded bias, multiplier, shift): the DSP kernels need them within bounds;
        ``per_channel``: a multiplier per row (else one for the layer)."""
        op = layer.op
        fast = requant is not None and fast_requant_exact(matrix, *requant)
        out_scale, out_zp = _scale_zp(self.tensors[op.outputs[0]], "output", op)
        # the kernels' general requantization path: a clamp inside int8, or channels outside the fast bounds
        general = activation_range(op.attrs.activation, out_scale, out_zp) != (-128, 127) or not fast
        layout = Layout(kind=op.kind, positions=positions, input_c=matrix.shape[1], output_c=matrix.shape[0],
                        general_requant=general)
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            x, y = self.tensors[op.inputs[0]], self.tensors[op.outputs[0]]
            a = op.attrs
            k_h, k_w = dense_values.shape[1], dense_values.shape[2]
            window = dict(self._window_fields(op, x, y, k_h, k_w))
            layout = Layout(
                kind=op.kind, positions=positions, filter_h=k_h, filter_w=k_w, input_c=x.shape[3], input_w=x.shape[2],
                stride_h=a.stride_h, stride_w=a.stride_w, dilation_h=a.dilation_h, dilation_w=a.dilation_w,
                pad_top=window["window.pad_top"], pad_left=window["window.pad_left"], input_h=x.shape[1],
                batches=x.shape[0],
                depth_multiplier=getattr(a, "depth_multiplier", 1), same_shape=x.shape == y.shape,
                padded_h=(y.shape[1] - 1) * a.stride_h + (k_h - 1) * a.dilation_h + 1,
                padded_w=(y.shape[2] - 1) * a.stride_w + (k_w - 1) * a.dilation_w + 1, general_requant=general,
            )
        layout = dataclasses.replace(layout, negatives_clamped=activation_range(op.attrs.activation, out_scale,
                                                                                out_zp)[0] >= out_zp,
                                     per_channel=per_channel, outside_fast_bounds=requant is not None and not fast)
        packed = None
        if fast and self.target.has_dsp:
            depthwise = op.kind == "DEPTHWISE_CONV_2D"
            packed = encode_packed(matrix, depthwise, *requant,
                                   constant_outputs=self._constant_outputs(op, *requant) if depthwise else None)
        wide = None
        if requant is not None and (self.target.has_dsp or self.target.thumb2) and op.kind == "CONV_2D":
            wide = encode_wide(matrix, *requant, _scale_zp(self.tensors[op.outputs[0]], "output", op)[1])
        gather = self._gather(op, matrix, layout) if self.target.has_mve else None
        choices = kernel_choices(matrix, dense_kernel, layout, self.weight_format, self.target, fast, packed, wide,
                                 gather)
        self.layer_choices[layer.index] = choices
        kernel = self.model_kernels.get(layer.index, choices[0].kernel)
        choice = next(choice for choice in choices if choice.kernel == kernel)
        prefix = self._prefix(layer)
        layer.scratch_bytes = choice.scratch_bytes
        block = ORDERED_WRITE_BLOCKS.get(choice.kernel) or FORWARD_WRITE_BLOCKS.get(choice.kernel)
        layer.in_place_of = op.inputs[0] if choice.in_place or block else None
        if layer.in_place_of and not choice.in_place:
            x, y = self.tensors[op.inputs[0]], self.tensors[op.outputs[0]]
            layer.in_place_lead = write_lead(x.shape, y.shape, layout, block,
                                             backward=choice.kernel in ORDERED_WRITE_BLOCKS)
        layer.kernel = choice.kernel
        layer.weight_format = choice.format
        layer.sparsity = choice.sparsity
        layer.estimated_instructions = choice.estimated_instructions
        layer.requant_checked = choice.requant_checked
        layer.cost_shape = (matrix, layout)
        layer.macs = positions * int(matrix.size)
        if choice.packed is not None:
            return self._packed_weights(layer, choice.packed)
        if choice.wide is not None:
            return self._wide_weights(layer, choice.wide)
        if choice.gather is not None:
            return self._gather_weights(layer, choice.gather)
        if choice.pairs is not None:
            # values and offsets interleaved: the flash report counts half of the stream as each
            return self.symbols.array(f"{prefix}_value_columns", "uint32_t", choice.pairs.stream, VALUE_COLUMNS,
                                      exported=True)
        if choice.kernel == FULLY_CONNECTED_NARROW_DSP:
            bias, multiplier, shift = requant
            return self.symbols.array(f"{prefix}_weights", "uint32_t",
                                      encode_narrow(matrix, bias, int(multiplier[0]), int(shift[0]), out_zp),
                                      "weights", exported=True)
        if choice.kernel == "pqk_fully_connected_s8_dsp":
            dense_values = encode_row_quads(matrix)
        elif choice.kernel in ("pqk_conv2d_s8_mve", "pqk_fully_connected_s8_mve"):
            dense_values = encode_row_chunks(matrix)
        elif choice.kernel == "pqk_depthwise_conv2d_s8_mve":
            dense_values = encode_depthwise_lanes(dense_values, layout.depth_multiplier)
        widened = {"pqk_conv2d_s8_smlal": encode_channel_pairs, "pqk_depthwise_conv2d_s8_mla": encode_channel_quads,
                   "pqk_depthwise_conv2d_s8_dsp": encode_channel_quads_s16}
        if choice.kernel in widened:
            return self.symbols.array(f"{prefix}_weights", "int32_t", widened[choice.kernel](matrix), "weights",
                                      exported=True)
        if choice.csr is None:
            return self.symbols.array(f"{prefix}_weights", "int8_t", dense_values, "weights", exported=True)
        return self._csr_struct(prefix, choice.csr)

    def _csr_struct(self, prefix: str, csr: CsrMatrix) -> str:
        """The pqk_csr_s8_t of ``csr`` and its arrays; returns the weights argument."""
        column_type = "uint8_t" if csr.columns.dtype == np.uint8 else "uint16_t"
        row_field, row_index = csr.row_index
        index_field = "col_u8" if column_type == "uint8_t" else "col_u16"
        fields: list[tuple[str, object]] = [("values", "NULL"), (index_field, "NULL")]
        if csr.values.size:  # a fully pruned layer keeps NULL pointers its kernel never reads
            fields = [
                ("values", self.symbols.array(f"{prefix}_values", "int8_t", csr.values, "weights")),
                (index_field, self.symbols.array(f"{prefix}_columns", column_type, csr.columns, "indices")),
            ]
        row_name = f"{prefix}_row_lengths" if row_field == "row_len_u8" else f"{prefix}_row_ptr"
        fields.append((row_field, self.symbols.array(row_name, f"{row_index.dtype}_t", row_index, "indices")))
        return "&" + self.symbols.struct(f"{prefix}_csr", "pqk_csr_s8_t", fields)

    def _constant_outputs(self, op: Op, folded_bias: np.ndarray, multiplier, shift) -> np.ndarray:
        """The output of every channel if it had no nonzero weights: its requantized bias, clamped."""
        out_scale, out_zp = _scale_zp(self.tensors[op.outputs[0]], "output", op)
        low, high = activation_range(op.attrs.activation, out_scale, out_zp)
        return np.clip(multiply_by_quantized_multiplier_array(folded_bias, multiplier, shift) + out_zp, low, high)

    def _packed_weights(self, layer: Layer, packed: PackedCsr) -> str:
        prefix = self._prefix(layer)
        layer.packed_requant = True
        if packed.value_columns is None:
            nonzeros = [("values", "int8_t", packed.values, "weights", "values"),
                        ("columns", "uint8_t", packed.columns, "indices", "columns")]
        else:
            nonzeros = [("value_columns", "uint16_t", packed.value_columns, VALUE_COLUMNS, "value_columns")]
        fields: list[tuple[str, object]] = [
            (name, self.symbols.array(f"{prefix}_{symbol}", ctype, values, category) if len(values) else "NULL")
            # symbol suffixes name the flash category for the size report (pqk_mcu.runner.arm)
            for name, ctype, values, category, symbol in (
                *nonzeros,
                ("multiplier_shift", "uint32_t", packed.multiplier_shift, "requant", "multiplier_shift"),
                ("records", "uint8_t", packed.records, "requant", "row_bias"),
            )
        ]
        fields += [("record_bytes", packed.record_bytes), ("info_bits", packed.info_bits),
                   ("right_shift_base", packed.right_shift_base)]
        return "&" + self.symbols.struct(f"{prefix}_packed", "pqk_packed_csr_s8_t", fields)

    def _wide_weights(self, layer: Layer, wide: WideCsr) -> str:
        layer.packed_requant = True
        # one stream of nonzeros and per-row requantization: the flash report counts it as weights
        return self.symbols.array(f"{self._prefix(layer)}_weights", "uint32_t", wide.stream, "weights", exported=True)

    @staticmethod
    def _gather(op: Op, matrix: np.ndarray, layout: Layout) -> GatherCsr | GatherTaps | GatherRows | None:
        """The matrix in the *_csr_mve kernels' format (None where it does not fit)."""
        if op.kind == "FULLY_CONNECTED":
            return encode_gather_rows(matrix)
        if op.kind == "CONV_2D":
            return encode_gather(matrix, conv_gather_offsets(layout)[None, :])
        window = (layout.filter_h, layout.filter_w, layout.dilation_h, layout.dilation_w, gather_row_width(layout),
                  layout.input_c)
        return encode_gather_taps(matrix, depthwise_offsets(matrix.shape[0], layout.depth_multiplier, *window))

    def _gather_weights(self, layer: Layer, gather: GatherCsr | GatherTaps | GatherRows) -> str:
        prefix = self._prefix(layer)
        if isinstance(gather, GatherTaps):
            fields = [("taps", self.symbols.array(f"{prefix}_value_columns", "int32_t", gather.taps, VALUE_COLUMNS)
                       if gather.taps.size else "NULL"),
                      ("row_taps", self.symbols.array(f"{prefix}_row_lengths", "uint8_t", gather.row_taps, "indices"))]
            return "&" + self.symbols.struct(f"{prefix}_gather", "pqk_gather_taps_s8_t", fields)
        if isinstance(gather, GatherRows):
            # offsets and weights interleaved: the flash report counts half of the stream as each
            fields = [("chunks", self.symbols.array(f"{prefix}_value_columns", "uint32_t", gather.chunks, VALUE_COLUMNS)),
                      ("group_chunks", self.symbols.array(f"{prefix}_row_lengths", "uint8_t", gather.group_chunks,
                                                          "indices"))]
            return "&" + self.symbols.struct(f"{prefix}_gather", "pqk_gather_rows_s8_t", fields)
        fields = [("chunks", self.symbols.array(f"{prefix}_value_columns", "uint16_t", gather.chunks, VALUE_COLUMNS)
                   if gather.chunks.size else "NULL"),
                  ("row_chunks", self.symbols.array(f"{prefix}_row_lengths", "uint8_t", gather.row_chunks, "indices"))]
        return "&" + self.symbols.struct(f"{prefix}_gather", "pqk_gather_csr_s8_t", fields)

    def _window_fields(self, op: Op, x: Tensor, y: Tensor, k_h: int, k_w: int) -> list[tuple[str, object]]:
        a = op.attrs
        n, in_h, in_w, in_c = x.shape
        _, out_h, out_w, out_c = y.shape
        dilation_h, dilation_w = getattr(a, "dilation_h", 1), getattr(a, "dilation_w", 1)
        pad_top, _ = padding_before(in_h, k_h, a.stride_h, dilation_h, conv_output_size(in_h, k_h, a.stride_h, dilation_h, a.padding))
        pad_left, _ = padding_before(in_w, k_w, a.stride_w, dilation_w, conv_output_size(in_w, k_w, a.stride_w, dilation_w, a.padding))
        values = dict(
            batches=n, input_h=in_h, input_w=in_w, input_c=in_c, output_h=out_h, output_w=out_w, output_c=out_c,
            filter_h=k_h, filter_w=k_w, stride_h=a.stride_h, stride_w=a.stride_w,
            dilation_h=dilation_h, dilation_w=dilation_w, pad_top=pad_top, pad_left=pad_left,
        )
        return [(f"window.{key}", value) for key, value in values.items()]

    def _params(self, layer: Layer, ctype: str, fields: list[tuple[str, object]]) -> str:
        return "&" + self.symbols.struct(f"{self._prefix(layer)}_params", ctype, fields)

    # -- weighted ops -----------------------------------------------------------------------------

    @LOWERINGS.register("CONV_2D")
    def _conv_2d(self, layer: Layer, op: Op) -> None:
        x, w, y = self.tensors[op.inputs[0]], self.tensors[op.inputs[1]], self.tensors[op.outputs[0]]
        if x.dtype == "int16":
            self._conv_2d_s16(layer, op)
            return
        in_scale, in_zp = _scale_zp(x, "input", op)
        out_scale, _ = _scale_zp(y, "output", op)
        out_c, k_h, k_w, _ = w.shape
        matrix = w.data.reshape(out_c, -1)
        multiplier, shift = conv_multipliers(in_scale, self._filter_scales(w, out_c), out_scale)
        bias = self._folded_bias(op, matrix, in_zp)
        weights = self._weights(layer, matrix, w.data, "pqk_conv2d_s8", y.shape[0] * y.shape[1] * y.shape[2],
                                (bias, multiplier, shift))
        fields = self._window_fields(op, x, y, k_h, k_w) + [("input_zero_point", in_zp)]
        fields += self._requant_fields(layer, op, bias, multiplier, shift)
        params = self._params(layer, "pqk_conv2d_s8_params_t", fields)
        layer.calls.append(Call(layer.kernel, (params, weights, self._operand(layer, 0), TensorRef(y.name))))

    def _conv_2d_s16(self, layer: Layer, op: Op) -> None:
        """16x8 CONV_2D: int64 bias and accumulators."""
        x, w, y = self.tensors[op.inputs[0]], self.tensors[op.inputs[1]], self.tensors[op.outputs[0]]
        (in_scale, _), (out_scale, _) = x.per_tensor_quant, y.per_tensor_quant
        out_c, k_h, k_w, _ = w.shape
        multiplier, shift = conv_multipliers(in_scale, self._filter_scales(w, out_c), out_scale)
        self._wide_conv(layer, op, w.data.reshape(out_c, -1), self._window_fields(op, x, y, k_h, k_w),
                        multiplier, shift)

    def _fully_connected_s16(self, layer: Layer, op: Op) -> None:
        """16x8 FULLY_CONNECTED: each input row is a 1x1 image with input_features channels through the
        16x8 CONV_2D kernels; per-tensor weights repeat FULLY_CONNECTED's own multiplier per channel."""
        x, w, y = self.tensors[op.inputs[0]], self.tensors[op.inputs[1]], self.tensors[op.outputs[0]]
        (in_scale, _), (out_scale, _) = x.per_tensor_quant, y.per_tensor_quant
        out_features, in_features = w.shape
        if w.quant.per_channel:
            multiplier, shift = conv_multipliers(in_scale, w.quant.scale, out_scale)
        else:
            m, s = fully_connected_multiplier(in_scale, w.quant.scale[0], out_scale)
            multiplier, shift = np.full(out_features, m), np.full(out_features, s)
        window = dict(batches=x.size // in_features, input_h=1, input_w=1, input_c=in_features, output_h=1, output_w=1,
                      output_c=out_features, filter_h=1, filter_w=1, stride_h=1, stride_w=1, dilation_h=1,
                      dilation_w=1, pad_top=0, pad_left=0)
        self._wide_conv(layer, op, w.data, [(f"window.{key}", value) for key, value in window.items()],
                        multiplier, shift)

    def _wide_conv(self, layer: Layer, op: Op, matrix: np.ndarray, window_fields: list[tuple[str, object]],
                   multiplier: np.ndarray, shift: np.ndarray) -> None:
        """pqk_conv2d_s16 over ``matrix`` (one row per output channel). Weights are dense, or plain CSR when
        forced or (auto) when CSR takes fewer bytes; the int8 kernels' packed and DSP formats do not apply.
        An absent bias (FULLY_CONNECTED) is zeros."""
        y = self.tensors[op.outputs[0]]
        _check_wide_shift(op, shift)
        out_scale, out_zp = y.per_tensor_quant
        low, high = activation_range(op.attrs.activation, out_scale, out_zp, "int16")
        prefix = self._prefix(layer)
        csr = encode_csr(matrix)
        sparse = self.weight_format == "csr" or (self.weight_format == "auto" and csr.nbytes < matrix.nbytes)
        layer.kernel = "pqk_conv2d_s16_csr" if sparse else "pqk_conv2d_s16"
        layer.weight_format = "csr" if sparse else "dense"
        layer.sparsity = float((matrix == 0).mean())
        layer.macs = y.size // matrix.shape[0] * int(matrix.size)
        weights = (self._csr_struct(prefix, csr) if sparse
                   else self.symbols.array(f"{prefix}_weights", "int8_t", matrix, "weights", exported=True))
        has_bias = len(op.inputs) > 2 and op.inputs[2]
        bias = self.tensors[op.inputs[2]].data if has_bias else np.zeros(matrix.shape[0], dtype=np.int64)
        fields = window_fields + [
            ("bias", self.symbols.array(f"{prefix}_bias", "int64_t", bias, "requant")),
            ("multiplier", self.symbols.array(f"{prefix}_multiplier", "int32_t", multiplier, "requant")),
            ("shift", self.symbols.array(f"{prefix}_shift", "int8_t", shift, "requant")),
            ("activation_min", low),
            ("activation_max", high),
        ]
        params = self._params(layer, "pqk_conv2d_s16_params_t", fields)
        layer.calls.append(Call(layer.kernel, (params, weights, self._operand(layer, 0), TensorRef(y.name))))

    @LOWERINGS.register("DEPTHWISE_CONV_2D")
    def _depthwise_conv_2d(self, layer: Layer, op: Op) -> None:
        x, w, y = self.tensors[op.inputs[0]], self.tensors[op.inputs[1]], self.tensors[op.outputs[0]]
        if x.dtype == "int16":
            self._depthwise_conv_2d_s16(layer, op)
            return
        in_scale, in_zp = _scale_zp(x, "input", op)
        out_scale, _ = _scale_zp(y, "output", op)
        _, k_h, k_w, out_c = w.shape
        # One row per output channel over (kh, kw).
        matrix = w.data.reshape(k_h * k_w, out_c).T
        multiplier, shift = conv_multipliers(in_scale, self._filter_scales(w, out_c), out_scale)
        bias = self._folded_bias(op, matrix, in_zp)
        weights = self._weights(layer, matrix, w.data, "pqk_depthwise_conv2d_s8", y.shape[0] * y.shape[1] * y.shape[2],
                                (bias, multiplier, shift))
        fields = self._window_fields(op, x, y, k_h, k_w)
        fields += [("depth_multiplier", op.attrs.depth_multiplier), ("input_zero_point", in_zp)]
        fields += self._requant_fields(layer, op, bias, multiplier, shift)
        params = self._params(layer, "pqk_depthwise_conv2d_s8_params_t", fields)
        args = (params, weights, self._operand(layer, 0), TensorRef(y.name))
        if layer.kernel == "pqk_depthwise_conv2d_s8_csr" and not layer.scratch_bytes:
            args += ("NULL",)  # cannot run in place: no ring
        layer.calls.append(Call(layer.kernel, args))

    def _depthwise_conv_2d_s16(self, layer: Layer, op: Op) -> None:
        """16x8 DEPTHWISE_CONV_2D: dense weights (whatever the weight format, as TRANSPOSE_CONV), int64 bias
        and accumulators."""
        x, w, y = self.tensors[op.inputs[0]], self.tensors[op.inputs[1]], self.tensors[op.outputs[0]]
        (in_scale, _), (out_scale, out_zp) = x.per_tensor_quant, y.per_tensor_quant
        _, k_h, k_w, out_c = w.shape
        multiplier, shift = conv_multipliers(in_scale, self._filter_scales(w, out_c), out_scale)
        _check_wide_shift(op, shift)
        low, high = activation_range(op.attrs.activation, out_scale, out_zp, "int16")
        prefix = self._prefix(layer)
        layer.kernel = "pqk_depthwise_conv2d_s16"
        layer.weight_format = "dense"
        layer.sparsity = float((w.data == 0).mean())
        layer.macs = y.size * k_h * k_w
        weights = self.symbols.array(f"{prefix}_weights", "int8_t", w.data, "weights", exported=True)
        fields = self._window_fields(op, x, y, k_h, k_w) + [
            ("depth_multiplier", op.attrs.depth_multiplier),
            ("bias", self.symbols.array(f"{prefix}_bias", "int64_t", self.tensors[op.inputs[2]].data, "requant")),
            ("multiplier", self.symbols.array(f"{prefix}_multiplier", "int32_t", multiplier, "requant")),
            ("shift", self.symbols.array(f"{prefix}_shift", "int8_t", shift, "requant")),
            ("activation_min", low),
            ("activation_max", high),
        ]
        params = self._params(layer, "pqk_depthwise_conv2d_s16_params_t", fields)
        layer.calls.append(Call(layer.kernel, (params, weights, self._operand(layer, 0), TensorRef(y.name))))

    @LOWERINGS.register("FULLY_CONNECTED")
    def _fully_connected(self, layer: Layer, op: Op) -> None:
        x, w, y = self.tensors[op.inputs[0]], self.tensors[op.inputs[1]], self.tensors[op.outputs[0]]
        if x.dtype == "int16":
            self._fully_connected_s16(layer, op)
            return
        out_features, in_features = w.shape
        if (out_features, in_features) == (1, 1) and y.dtype == "int8" and self.weight_format == "auto":
            # every output is a function of one int8 input: a table (pruned chains shrink to such layers); a
            # forced weight format keeps the FC kernels
            self._lut(layer, op, constants=tuple(self.tensors[name] for name in op.inputs[1:] if name))
            return
        in_scale, in_zp = _scale_zp(x, "input", op)
        out_scale, _ = _scale_zp(y, "output", op)
        if w.quant.per_channel:
            multiplier, shift = conv_multipliers(in_scale, w.quant.scale, out_scale)
        else:
            if w.quant.zero_point[0] != 0:
                raise UnsupportedModelError(
                    f"op {op.name} (FULLY_CONNECTED): weights '{w.name}' have zero point {w.quant.zero_point[0]} (int8 needs 0)"
                )
            m, s = fully_connected_multiplier(in_scale, w.quant.scale[0], out_scale)
            multiplier, shift = np.array([m]), np.array([s])
        batches = x.size // in_features
        bias = self._folded_bias(op, w.data, in_zp)
        weights = self._weights(layer, w.data, w.data, "pqk_fully_connected_s8", batches, (bias, multiplier, shift),
                                bool(w.quant.per_channel))
        fields: list[tuple[str, object]] = [
            ("batches", batches), ("input_features", in_features), ("output_features", out_features),
            ("per_channel", int(w.quant.per_channel)),
        ]
        fields += self._requant_fields(layer, op, bias, multiplier, shift)
        params = self._params(layer, "pqk_fully_connected_s8_params_t", fields)
        args = (params, weights, self._operand(layer, 0), TensorRef(y.name))
        if layer.kernel in ("pqk_fully_connected_s8_dsp", "pqk_fully_connected_s8_mve") and not layer.scratch_bytes:
            args += ("NULL",)  # reads its input directly or keeps its sums on the stack: no scratch
        layer.calls.append(Call(layer.kernel, args))

    @staticmethod
    def _filter_scales(w: Tensor, channels: int) -> list[float]:
        scales = w.quant.scale
        return list(scales) if len(scales) > 1 else [scales[0]] * channels

    # -- other ops ----------------------------------------------------------------------------------

    def _pool(self, layer: Layer, op: Op, kernel: str) -> None:
        x, y = self.tensors[op.inputs[0]], self.tensors[op.outputs[0]]
        out_scale, out_zp = _scale_zp(y, "output", op)
        low, high = activation_range(op.attrs.activation, out_scale, out_zp)
        fields = self._window_fields(op, x, y, op.attrs.filter_h, op.attrs.filter_w)
        fields += [("activation_min", low), ("activation_max", high)]
        layer.kernel = kernel
        layer.macs = y.size * op.attrs.filter_h * op.attrs.filter_w
        params = self._params(layer, "pqk_pool2d_s8_params_t", fields)
        layer.calls.append(Call(kernel, (params, self._operand(layer, 0), TensorRef(y.name))))

    @LOWERINGS.register("AVERAGE_POOL_2D")
    def _average_pool_2d(self, layer: Layer, op: Op) -> None:
        channels = self.tensors[op.outputs[0]].shape[-1]
        self._pool(layer, op, average_pool_kernel(channels, op.attrs.filter_h, op.attrs.filter_w, self.target))

    @LOWERINGS.register("MAX_POOL_2D")
    def _max_pool_2d(self, layer: Layer, op: Op) -> None:
        self._pool(layer, op, "pqk_max_pool2d_s8")

    def _broadcast_shape(self, op: Op) -> tuple[list[int], list[int], list[int]]:
        """Output shape and input strides (in elements, 0 repeats) of a broadcasting binary op as 4-D, with
        adjacent dimensions merged where each input advances along both or repeats along both: fewer,
        longer loops (an op without broadcasting is one row)."""
        a, b, y = (self.tensors[name] for name in (*op.inputs[:2], op.outputs[0]))
        if len(y.shape) > 4:
            raise UnsupportedModelError(f"op {op.name} ({op.kind}): rank {len(y.shape)} broadcasting (at most 4)")
        padded = [(1,) * (len(y.shape) - len(t.shape)) + t.shape for t in (a, b)]
        dims: list[list] = []  # [size, input1 advances, input2 advances]
        for d, size in enumerate(y.shape):
            if size == 1:
                continue
            advances = [shape[d] == size for shape in padded]
            if dims and dims[-1][1:] == advances:
                dims[-1][0] *= size
            else:
                dims.append([size, *advances])
        dims = [[1, True, True]] * (4 - len(dims)) + dims
        strides: list[list[int]] = [[0] * 4, [0] * 4]
        for k in range(2):
            step = 1
            for d in reversed(range(4)):
                if dims[d][1 + k]:
                    strides[k][d] = step
                    step *= dims[d][0]
        return [size for size, _, _ in dims], strides[0], strides[1]

    def _broadcast_fields(self, op: Op) -> list[tuple[str, object]]:
        out_shape, strides1, strides2 = self._broadcast_shape(op)
        fields: list[tuple[str, object]] = [(f"shape.output_shape[{d}]", out_shape[d]) for d in range(4)]
        fields += [(f"shape.input1_strides[{d}]", strides1[d]) for d in range(4)]
        fields += [(f"shape.input2_strides[{d}]", strides2[d]) for d in range(4)]
        return fields

    @LOWERINGS.register("ADD")
    def _add(self, layer: Layer, op: Op) -> None:
        self._add_or_subtract(layer, op, subtract=False)

    @LOWERINGS.register("SUB")
    def _sub(self, layer: Layer, op: Op) -> None:
        """SUB is ADD with input2's rescaled values negated: the table kernel takes a negated input2 table
        (TFLite's difference of the rescaled inputs, exactly), the table-free one is pqk_sub_s8."""
        self._add_or_subtract(layer, op, subtract=True)

    def _add_or_subtract(self, layer: Layer, op: Op, subtract: bool) -> None:
        if self.tensors[op.outputs[0]].dtype == "int16":
            self._add_or_subtract_s16(layer, op, subtract)
            return
        (s1, z1), (s2, z2) = (_scale_zp(self.tensors[name], "input", op) for name in op.inputs[:2])
        out_scale, out_zp = _scale_zp(self.tensors[op.outputs[0]], "output", op)
        p = add_params(s1, s2, out_scale)
        low, high = activation_range(op.attrs.activation, out_scale, out_zp)
        output_fields = [
            ("output_multiplier", p.output_multiplier), ("output_shift", p.output_shift),
            ("output_zero_point", out_zp), ("activation_min", low), ("activation_max", high),
        ]
        # Each input's rescaled value depends on its int8 value alone: pqk_add_s8_lut looks it up.
        scaled1 = add_input_table(z1, p.left_shift, p.input1_multiplier, p.input1_shift)
        scaled2 = add_input_table(z2, p.left_shift, p.input2_multiplier, p.input2_shift)
        if subtract:
            scaled2 = -scaled2
        fast = fast_requant_bounds_hold(np.abs(scaled1).max() + np.abs(scaled2).max(), p.output_multiplier,
                                        p.output_shift)
        # The kernel's tables hold doubled values: their sum is the doubled accumulator the fast form takes.
        tables = (2 * scaled1, 2 * scaled2)
        distinct = tables[:1] if np.array_equal(*tables) else tables
        table_bytes = sum(4 * table.size for table in distinct if not self.symbols.stored("int32_t", table))
        out_shape, strides1, strides2 = self._broadcast_shape(op)
        size = self.tensors[op.outputs[0]].size
        choice = choose_add_kernel(size, size // out_shape[3], strides1[3] == strides2[3] == 1,
                                   add_requantization(fast, out_zp, low, high), table_bytes)
        layer.estimated_instructions = choice.estimated_instructions
        # The ADD and SUB kernels write each element after reading its inputs, in order: the output may
        # take the place of an input of its own shape.
        output = self.tensors[op.outputs[0]]
        layer.in_place_of = next((name for name in op.inputs[:2] if self.tensors[name].shape == output.shape
                                  and not self.tensors[name].is_constant), None)
        if choice.kernel == "pqk_add_s8":  # the cost model's name for the table-free kernel
            fields = self._broadcast_fields(op) + [
                ("input1_offset", -z1), ("input2_offset", -z2), ("left_shift", p.left_shift),
                ("input1_multiplier", p.input1_multiplier), ("input1_shift", p.input1_shift),
                ("input2_multiplier", p.input2_multiplier), ("input2_shift", p.input2_shift),
            ]
            table_free_kernel = "pqk_sub_s8" if subtract else choice.kernel
            self._binary(layer, op, table_free_kernel, "pqk_add_s8_params_t", fields + output_fields)
            return
        prefix = self._prefix(layer)
        fields = self._broadcast_fields(op) + [
            (f"input{k + 1}_table", self.symbols.array(f"{prefix}_input{k + 1}_table", "int32_t", table, "tables"))
            for k, table in enumerate(tables)
        ] + [("fast_requantize", int(fast))]
        self._binary(layer, op, choice.kernel, "pqk_add_s8_lut_params_t", fields + output_fields)

    def _add_or_subtract_s16(self, layer: Layer, op: Op, subtract: bool) -> None:
        """16x8 ADD / SUB: TFLite Micro's general path with 15 bits of headroom (zero points are 0)."""
        (s1, _), (s2, _) = (self.tensors[name].per_tensor_quant for name in op.inputs[:2])
        output = self.tensors[op.outputs[0]]
        out_scale, out_zp = output.per_tensor_quant
        p = add_params(s1, s2, out_scale, ADD_LEFT_SHIFT_INT16)
        low, high = activation_range(op.attrs.activation, out_scale, out_zp, "int16")
        # Each element is written after its inputs are read, in order: the output may take an input's place.
        layer.in_place_of = next((name for name in op.inputs[:2] if self.tensors[name].shape == output.shape
                                  and not self.tensors[name].is_constant), None)
        fields = self._broadcast_fields(op) + [
            ("input1_offset", 0), ("input2_offset", 0), ("left_shift", p.left_shift),
            ("input1_multiplier", p.input1_multiplier), ("input1_shift", p.input1_shift),
            ("input2_multiplier", p.input2_multiplier), ("input2_shift", p.input2_shift),
            ("output_multiplier", p.output_multiplier), ("output_shift", p.output_shift),
            ("output_zero_point", out_zp), ("activation_min", low), ("activation_max", high),
        ]
        self._binary(layer, op, "pqk_sub_s16" if subtract else "pqk_add_s16", "pqk_add_s8_params_t", fields)

    @LOWERINGS.register("MUL")
    def _mul(self, layer: Layer, op: Op) -> None:
        if self.tensors[op.outputs[0]].dtype == "int16":
            self._mul_s16(layer, op)
            return
        (s1, z1), (s2, z2) = (_scale_zp(self.tensors[name], "input", op) for name in op.inputs[:2])
        out_scale, out_zp = _scale_zp(self.tensors[op.outputs[0]], "output", op)
        multiplier, shift = mul_multiplier(s1, s2, out_scale)
        low, high = activation_range(op.attrs.activation, out_scale, out_zp)
        fields = self._broadcast_fields(op) + [
            ("input1_offset", -z1), ("input2_offset", -z2),
            ("output_multiplier", multiplier), ("output_shift", shift),
            ("output_zero_point", out_zp), ("activation_min", low), ("activation_max", high),
        ]
        self._binary(layer, op, "pqk_mul_s8", "pqk_mul_s8_params_t", fields)

    def _mul_s16(self, layer: Layer, op: Op) -> None:
        """16x8 MUL: TFLite Micro's int16 Mul, zero points 0."""
        (s1, _), (s2, _) = (self.tensors[name].per_tensor_quant for name in op.inputs[:2])
        out_scale, out_zp = self.tensors[op.outputs[0]].per_tensor_quant
        multiplier, shift = mul_multiplier(s1, s2, out_scale)
        low, high = activation_range(op.attrs.activation, out_scale, out_zp, "int16")
        fields = self._broadcast_fields(op) + [
            ("input1_offset", 0), ("input2_offset", 0), ("output_multiplier", multiplier), ("output_shift", shift),
            ("output_zero_point", 0), ("activation_min", low), ("activation_max", high),
        ]
        self._binary(layer, op, "pqk_mul_s16", "pqk_mul_s8_params_t", fields)

    @LOWERINGS.register("PRELU")
    def _prelu(self, layer: Layer, op: Op) -> None:
        (in_scale, in_zp), (alpha_scale, alpha_zp) = (_scale_zp(self.tensors[name], "input", op) for name in op.inputs)
        out_scale, out_zp = _scale_zp(self.tensors[op.outputs[0]], "output", op)
        identity, identity_shift = requantize_multiplier(in_scale, out_scale)
        negative, negative_shift = mul_multiplier(in_scale, alpha_scale, out_scale)
        fields = self._broadcast_fields(op) + [
            ("input_offset", -in_zp), ("alpha_offset", -alpha_zp),
            ("identity_multiplier", identity), ("identity_shift", identity_shift),
            ("alpha_multiplier", negative), ("alpha_shift", negative_shift), ("output_zero_point", out_zp),
        ]
        self._binary(layer, op, "pqk_prelu_s8", "pqk_prelu_s8_params_t", fields)

    @LOWERINGS.register("MAXIMUM", "MINIMUM")
    def _maximum_minimum(self, layer: Layer, op: Op) -> None:
        fields = self._broadcast_fields(op) + [("maximum", int(op.kind == "MAXIMUM"))]
        self._binary(layer, op, "pqk_maximum_minimum_s8", "pqk_maximum_minimum_s8_params_t", fields)

    def _binary(self, layer: Layer, op: Op, kernel: str, ctype: str, fields) -> None:
        layer.kernel = kernel
        params = self._params(layer, ctype, fields)
        layer.calls.append(
            Call(kernel, (params, self._operand(layer, 0), self._operand(layer, 1), TensorRef(op.outputs[0])))
        )

    @LOWERINGS.register("SOFTMAX")
    def _softmax(self, layer: Layer, op: Op) -> None:
        x, y = self.tensors[op.inputs[0]], self.tensors[op.outputs[0]]
        if x.dtype == "int16":
            self._softmax_s16(layer, op)
            return
        scale, _ = _scale_zp(x, "input", op)
        if y.dtype == "int8":
            _scale_zp(y, "output", op)
        p = softmax_params(op.attrs.beta, scale)
        # exp of every possible distance d = max - x (0..255) to the row maximum, as the reference
        # evaluates it; distances beyond diff_min contribute nothing (0 gives exactly that in C).
        diff = -np.arange(256, dtype=np.int64)
        used = diff >= p.diff_min
        rescaled = srdhm_array(np.where(used, diff, 0) << p.input_left_shift, p.input_multiplier).astype(np.int64)
        exps = gemmlowp.exp_on_negative_values(rescaled, SOFTMAX_SCALED_DIFF_INTEGER_BITS)
        table = np.where(used, exps, 0)
        depth = x.shape[-1]
        layer.kernel = "pqk_softmax_s8_s16" if y.dtype == "int16" else "pqk_softmax_s8"
        fields = [
            ("rows", x.size // depth), ("depth", depth),
            ("exp_table", self.symbols.array(f"{self._prefix(layer)}_exp_table", "int32_t", table, "tables")),
        ]
        params = self._params(layer, "pqk_softmax_s8_params_t", fields)
        layer.calls.append(Call(layer.kernel, (params, self._operand(layer, 0), TensorRef(y.name))))

    def _softmax_s16(self, layer: Layer, op: Op) -> None:
        """int16 -> int16: TFLite Micro's two interpolated tables, built here as its Prepare builds them."""
        x, y = self.tensors[op.inputs[0]], self.tensors[op.outputs[0]]
        multiplier, shift = softmax_input_params_int16(op.attrs.beta, x.per_tensor_quant[0])
        exp_table, reciprocal_table = softmax_luts_int16()
        prefix = self._prefix(layer)
        depth = x.shape[-1]
        layer.kernel = "pqk_softmax_s16"
        params = self._params(layer, "pqk_softmax_s16_params_t", [
            ("rows", x.size // depth), ("depth", depth), ("input_multiplier", multiplier), ("input_shift", shift),
            ("exp_table", self.symbols.array(f"{prefix}_exp_table", "int16_t", exp_table, "tables")),
            ("reciprocal_table", self.symbols.array(f"{prefix}_reciprocal_table", "int16_t", reciprocal_table,
                                                    "tables")),
        ])
        layer.calls.append(Call(layer.kernel, (params, self._operand(layer, 0), TensorRef(y.name))))

    @LOWERINGS.register("LOGISTIC", "TANH")
    def _logistic_tanh(self, layer: Layer, op: Op) -> None:
        """int8 by table; int16 (16x8 models) interpolates TFLite's sigmoid table in pqk_logistic_s16 /
        pqk_tanh_s16."""
        x, y = self.tensors[op.inputs[0]], self.tensors[op.outputs[0]]
        if x.dtype == "int8":
            self._lut(layer, op)
            return
        multiplier, shift = sigmoid_input_params_int16(x.per_tensor_quant[0], tanh=op.kind == "TANH")
        if multiplier > MAX_SIGMOID_INPUT_MULTIPLIER_INT16:
            raise UnsupportedModelError(f"op {op.name} ({op.kind}): input scale {x.per_tensor_quant[0]:.6g} is above "
                                        "the 2.67 that TFLite Micro's int16 kernel handles")
        layer.kernel = f"pqk_{op.kind.lower()}_s16"
        params = self._params(layer, "pqk_sigmoid_s16_params_t", [
            ("size", x.size), ("input_multiplier", multiplier), ("input_shift", shift),
            ("sigmoid_table", self.symbols.array(f"{self._prefix(layer)}_sigmoid_table", "uint16_t",
                                                 SIGMOID_TABLE_UINT16, "tables")),
        ])
        layer.calls.append(Call(layer.kernel, (params, self._operand(layer, 0), TensorRef(y.name))))

    # Element-wise int8 -> int8 ops run as table lookups (tables from the reference interpreter).
    @LOWERINGS.register("RELU", "RELU6", "HARD_SWISH")
    def _lut(self, layer: Layer, op: Op, constants: tuple[Tensor, ...] = ()) -> None:
        x, y = self.tensors[op.inputs[0]], self.tensors[op.outputs[0]]
        _scale_zp(x, "input", op)
        _scale_zp(y, "output", op)
        table = unary_table(op, x, y, constants)
        layer.kernel = "pqk_lut_s8"
        fields = [
            ("size", x.size),
            ("table", self.symbols.array(f"{self._prefix(layer)}_table", "int8_t", table, "tables")),
        ]
        params = self._params(layer, "pqk_lut_s8_params_t", fields)
        layer.calls.append(Call(layer.kernel, (params, self._operand(layer, 0), TensorRef(y.name))))

    @LOWERINGS.register("LEAKY_RELU")
    def _leaky_relu(self, layer: Layer, op: Op) -> None:
        """int8 by table; int16 (16x8 models) rescales each element by the identity or the alpha multiplier."""
        x, y = self.tensors[op.inputs[0]], self.tensors[op.outputs[0]]
        if x.dtype == "int8":
            self._lut(layer, op)
            return
        (identity, identity_shift), (alpha, alpha_shift) = leaky_relu_multipliers(
            x.per_tensor_quant[0], op.attrs.alpha, y.per_tensor_quant[0])
        layer.kernel = "pqk_leaky_relu_s16"
        params = self._params(layer, "pqk_leaky_relu_s16_params_t", [
            ("size", x.size), ("identity_multiplier", identity), ("identity_shift", identity_shift),
            ("alpha_multiplier", alpha), ("alpha_shift", alpha_shift),
        ])
        layer.calls.append(Call(layer.kernel, (params, self._operand(layer, 0), TensorRef(y.name))))

    @LOWERINGS.register("QUANTIZE")
    def _quantize(self, layer: Layer, op: Op) -> None:
        """int8 -> int8 by table; with an int16 or int32 side (16x8 models) TFLite Micro's Requantize."""
        x, y = self.tensors[op.inputs[0]], self.tensors[op.outputs[0]]
        if x.dtype == "int8" and y.dtype == "int8":
            self._lut(layer, op)
            return
        (in_scale, in_zp), (out_scale, out_zp) = x.per_tensor_quant, y.per_tensor_quant
        multiplier, shift = requantize_multiplier(in_scale, out_scale)
        layer.kernel = "pqk_quantize_s16"
        params = self._params(layer, "pqk_quantize_s16_params_t", [
            ("size", x.size), ("input_bytes", x.nbytes // x.size), ("output_bytes", y.nbytes // y.size),
            ("input_zero_point", in_zp), ("output_zero_point", out_zp), ("multiplier", multiplier), ("shift", shift),
        ])
        layer.calls.append(Call(layer.kernel, (params, self._operand(layer, 0), TensorRef(y.name))))

    # The output is the input's bytes under another shape: a no-op alias for the memory plan.
    @LOWERINGS.register("RESHAPE", "SQUEEZE")
    def _reshape(self, layer: Layer, op: Op) -> None:
        layer.alias_of = op.inputs[0]

    @LOWERINGS.register("PAD")
    def _pad(self, layer: Layer, op: Op) -> None:
        x, y = self.tensors[op.inputs[0]], self.tensors[op.outputs[0]]
        out_zp = y.per_tensor_quant[1]
        paddings = self.tensors[op.inputs[1]].data.astype(np.int64).reshape(-1, 2)
        rank = len(x.shape)
        if rank > 4:
            raise UnsupportedModelError(f"op {op.name} (PAD): rank {rank} (at most 4)")
        lead = 4 - rank
        shape = (1,) * lead + x.shape
        before = [0] * lead + paddings[:, 0].tolist()
        after = [0] * lead + paddings[:, 1].tolist()
        fields: list[tuple[str, object]] = []
        for d in range(4):
            fields += [(f"input_shape[{d}]", shape[d]), (f"pad_before[{d}]", before[d]), (f"pad_after[{d}]", after[d])]
        fields.append(("pad_value", out_zp))
        layer.kernel = f"pqk_pad_{_element_suffix(x)}"
        params = self._params(layer, "pqk_pad_s8_params_t", fields)
        layer.calls.append(Call(layer.kernel, (params, self._operand(layer, 0), TensorRef(y.name))))

    @LOWERINGS.register("TRANSPOSE")
    def _transpose(self, layer: Layer, op: Op) -> None:
        x = self.tensors[op.inputs[0]]
        element_strides = _element_strides(x.shape)
        perm = transpose_permutation(op, [self.tensors[name] for name in op.inputs])
        self._strided_copy(layer, op, [(x.shape[axis], element_strides[axis]) for axis in perm], 0)

    @LOWERINGS.register("STRIDED_SLICE")
    def _strided_slice(self, layer: Layer, op: Op) -> None:
        x = self.tensors[op.inputs[0]]
        axes = strided_slice_axes(op, [self.tensors[name] for name in op.inputs])
        element_strides = _element_strides(x.shape)
        offset = sum(start * step for (start, _, _), step in zip(axes, element_strides))
        self._strided_copy(layer, op, [(count, stride * step) for (_, count, stride), step in zip(axes, element_strides)],
                           offset)

    def _strided_copy(self, layer: Layer, op: Op, dims: list[tuple[int, int]], offset: int) -> None:
        """pqk_strided_copy_s8 (or _s16) for an output whose axis k has (size, input stride in elements): axes of
        size 1 dropped and adjacent axes that step through the input as one merged, at most 4 left."""
        layer.kernel = f"pqk_strided_copy_{_element_suffix(self.tensors[op.inputs[0]])}"
        params = self._params(layer, "pqk_strided_copy_s8_params_t", _strided_copy_fields(op, dims, offset))
        layer.calls.append(Call(layer.kernel, (params, self._operand(layer, 0), TensorRef(op.outputs[0]))))

    @LOWERINGS.register("SPLIT", "SPLIT_V", "UNPACK")
    def _split(self, layer: Layer, op: Op) -> None:
        """One strided copy per output, each into its own buffer: a part along the axis (SPLIT, SPLIT_V) or
        one index of it (UNPACK)."""
        slot = 1 if op.kind == "SPLIT" else 0
        x = self.tensors[op.inputs[slot]]
        element_strides = _element_strides(x.shape)
        if op.kind == "UNPACK":
            axis, starts = op.attrs.axis, list(range(op.attrs.num))
        else:
            axis, sizes = split_sizes(op, [self.tensors[name] for name in op.inputs])
            starts = [int(start) for start in np.cumsum([0, *sizes[:-1]])]
        layer.kernel = f"pqk_strided_copy_{_element_suffix(x)}"
        for part, (output, start) in enumerate(zip(op.outputs, starts)):
            y = self.tensors[output]
            kept = [a for a in range(len(x.shape)) if not (op.kind == "UNPACK" and a == axis)]
            dims = [(size, element_strides[a]) for size, a in zip(y.shape, kept)]
            fields = _strided_copy_fields(op, dims, start * element_strides[axis])
            params = "&" + self.symbols.struct(f"{self._prefix(layer)}_part{part}_params",
                                               "pqk_strided_copy_s8_params_t", fields)
            layer.calls.append(Call(layer.kernel, (params, self._operand(layer, slot), TensorRef(output))))

    @LOWERINGS.register("RESIZE_NEAREST_NEIGHBOR")
    def _resize_nearest_neighbor(self, layer: Layer, op: Op) -> None:
        x, y = self.tensors[op.inputs[0]], self.tensors[op.outputs[0]]
        (batches, in_h, in_w, channels), (_, out_h, out_w, _) = x.shape, y.shape
        a = op.attrs
        rows = nearest_source_indices(in_h, out_h, a.align_corners, a.half_pixel_centers)
        columns = nearest_source_indices(in_w, out_w, a.align_corners, a.half_pixel_centers)
        prefix = self._prefix(layer)
        layer.kernel = "pqk_resize_nearest_s8"
        params = self._params(layer, "pqk_resize_nearest_s8_params_t", [
            ("batches", batches), ("output_h", out_h), ("output_w", out_w), ("channels", channels),
            ("input_batch_size", in_h * in_w * channels),
            ("row_offsets", self.symbols.array(f"{prefix}_row_offsets", "int32_t",
                                               [row * in_w * channels for row in rows], "indices")),
            ("column_offsets", self.symbols.array(f"{prefix}_column_offsets", "int32_t",
                                                  [column * channels for column in columns], "indices")),
        ])
        layer.calls.append(Call(layer.kernel, (params, self._operand(layer, 0), TensorRef(y.name))))

    @LOWERINGS.register("MEAN")
    def _mean(self, layer: Layer, op: Op) -> None:
        x, y = self.tensors[op.inputs[0]], self.tensors[op.outputs[0]]
        axes = normalized_axes(self.tensors[op.inputs[1]].data.astype(np.int64), len(x.shape))
        count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        in_scale, in_zp = _scale_zp(x, "input", op)
        out_scale, out_zp = _scale_zp(y, "output", op)
        multiplier, shift = mean_multiplier(in_scale, out_scale, count)
        requant: list[tuple[str, object]] = [
            ("input_zero_point_sum", int(wrap_int32(np.array([in_zp * count]))[0])),
            ("multiplier", multiplier), ("shift", shift), ("output_zero_point", out_zp),
        ]
        # Reducing over an axis of size 1 changes nothing: pqk_mean_s8 takes the reduced axes of size > 1
        # when nothing but size-1 axes lie between them, pqk_mean_s8_gather any others.
        wide = [a for a in axes if x.shape[a] > 1] or list(axes[:1])
        first, last = wide[0], wide[-1]
        if any(a not in axes and x.shape[a] > 1 for a in range(first, last + 1)):
            kept = [a for a in range(len(x.shape)) if a not in axes]
            index = np.arange(x.size, dtype=np.int64).reshape(x.shape).transpose(kept + list(axes))
            index = index.reshape(-1, count)
            prefix = self._prefix(layer)
            layer.kernel = "pqk_mean_s8_gather"
            params = self._params(layer, "pqk_mean_s8_gather_params_t", [
                ("outputs", index.shape[0]), ("reduce", count),
                ("output_offsets", self.symbols.array(f"{prefix}_output_offsets", "int32_t", index[:, 0], "indices")),
                ("reduce_offsets", self.symbols.array(f"{prefix}_reduce_offsets", "int32_t", index[0] - index[0, 0],
                                                      "indices")),
            ] + requant)
        else:
            fields: list[tuple[str, object]] = [
                ("outer", int(np.prod(x.shape[:first], dtype=np.int64))), ("reduce", count),
                ("inner", int(np.prod(x.shape[last + 1:], dtype=np.int64))),
            ]
            layer.kernel = "pqk_mean_s8"
            params = self._params(layer, "pqk_mean_s8_params_t", fields + requant)
        layer.calls.append(Call(layer.kernel, (params, self._operand(layer, 0), TensorRef(y.name))))

    @LOWERINGS.register("CONCATENATION")
    def _concatenation(self, layer: Layer, op: Op) -> None:
        y = self.tensors[op.outputs[0]]
        axis = op.attrs.axis % len(y.shape)
        out_scale, out_zp = _scale_zp(y, "output", op)
        if activation_range(op.attrs.activation, out_scale, out_zp) != (-128, 127):
            raise UnsupportedModelError(f"op {op.name} (CONCATENATION): fused activation {op.attrs.activation}")
        inputs = [self.tensors[name] for name in op.inputs]
        for tensor in inputs:
            if tensor.quant != y.quant:
                raise UnsupportedModelError(
                    f"op {op.name} (CONCATENATION): input '{tensor.name}' is quantized differently from the output"
                )
        self._concatenate(layer, op, axis, [int(np.prod(t.shape[axis:], dtype=np.int64)) for t in inputs])

    @LOWERINGS.register("PACK")
    def _pack(self, layer: Layer, op: Op) -> None:
        """Stacking along a new axis is concatenating along it: each input copies its whole block per outer step."""
        x = self.tensors[op.inputs[0]]
        axis = op.attrs.axis
        self._concatenate(layer, op, axis, [int(np.prod(x.shape[axis:], dtype=np.int64))] * len(op.inputs))

    def _concatenate(self, layer: Layer, op: Op, axis: int, sizes: list[int]) -> None:
        """pqk_concatenation_s8: per step over the output axes before ``axis``, input k copies sizes[k] bytes."""
        y = self.tensors[op.outputs[0]]
        outer = int(np.prod(y.shape[:axis], dtype=np.int64))
        prefix = self._prefix(layer)
        layer.kernel = "pqk_concatenation_s8"
        fields = [
            ("outer", outer), ("num_inputs", len(sizes)),
            ("copy_sizes", self.symbols.array(f"{prefix}_copy_sizes", "int32_t", sizes, "requant")),
        ]
        params = self._params(layer, "pqk_concatenation_s8_params_t", fields)
        pointers = f"{prefix}_inputs"
        layer.pointer_arrays.append((pointers, tuple(self._operand(layer, slot) for slot in range(len(sizes)))))
        layer.calls.append(Call(layer.kernel, (params, pointers, TensorRef(y.name))))

    @LOWERINGS.register("SVDF")
    def _svdf(self, layer: Layer, op: Op) -> None:
        x, feature, time, bias, state = (self.tensors[name] for name in op.inputs)
        y = self.tensors[op.outputs[0]]
        in_scale, in_zp = _scale_zp(x, "input", op)
        out_scale, out_zp = _scale_zp(y, "output", op)
        state_scale, state_zp = state.per_tensor_quant
        (feature_m, feature_s), (time_m, time_s) = svdf_multipliers(
            in_scale, feature.quant.scale[0], state_scale, time.quant.scale[0], out_scale)
        filters, memory = time.shape
        prefix = self._prefix(layer)
        time_ctype = f"{time.dtype}_t"
        layer.kernel, csr, layer.estimated_instructions = choose_svdf_kernel(feature.data, x.shape[0],
                                                                             self.weight_format)
        layer.weight_format = "dense" if csr is None else "csr"
        layer.sparsity = float(np.mean(feature.data == 0))
        layer.macs = x.shape[0] * filters * (x.shape[1] + memory)
        fields = [
            ("batches", x.shape[0]), ("input_size", x.shape[1]), ("filters", filters), ("memory", memory),
            ("rank", op.attrs.rank), ("wide_state", int(state.dtype == "int16")),
            ("input_zero_point", in_zp), ("state_zero_point", state_zp), ("output_zero_point", out_zp),
            ("feature_multiplier", feature_m), ("feature_shift", feature_s),
            ("time_multiplier", time_m), ("time_shift", time_s),
            ("weights_feature", "NULL" if csr is not None
             else self.symbols.array(f"{prefix}_weights_feature", "int8_t", feature.data, "weights")),
            ("weights_time", self.symbols.array(f"{prefix}_weights_time", time_ctype, time.data, "weights")),
            ("bias", self.symbols.array(f"{prefix}_bias", "int32_t", bias.data, "requant")),
        ]
        params = self._params(layer, "pqk_svdf_s8_params_t", fields)
        weights = () if csr is None else (self._csr_struct(f"{prefix}_weights_feature", csr),)
        layer.calls.append(Call(layer.kernel, (params, *weights, self._operand(layer, 0), TensorRef(state.name),
                                               TensorRef(y.name))))

    @LOWERINGS.register("UNIDIRECTIONAL_SEQUENCE_LSTM")
    def _unidirectional_sequence_lstm(self, layer: Layer, op: Op) -> None:
        x, y = self.tensors[op.inputs[0]], self.tensors[op.outputs[0]]
        hidden, cell = self.tensors[op.inputs[18]], self.tensors[op.inputs[19]]
        input_weights = [self.tensors[op.inputs[slot]] for slot in (1, 2, 3, 4)]
        recurrent_weights = [self.tensors[op.inputs[slot]] for slot in (5, 6, 7, 8)]
        biases = [self.tensors[op.inputs[slot]].data for slot in (12, 13, 14, 15)]
        in_scale, in_zp = _scale_zp(x, "input", op)
        hidden_scale, hidden_zp = _scale_zp(hidden, "hidden state", op)
        p = lstm_params(in_scale, [w.quant.scale[0] for w in input_weights], hidden_scale,
                        [w.quant.scale[0] for w in recurrent_weights], cell.quant.scale[0], op.attrs.cell_clip)
        cell_tanh_multiplier, cell_tanh_shift = lstm_tanh_input_scaling(p.cell_scale_power)
        steps, batches = (x.shape[0], x.shape[1]) if op.attrs.time_major else (x.shape[1], x.shape[0])
        units, input_size = input_weights[0].shape
        # The zero points fold into the biases (the recurrent products have none: TFLite Micro passes no bias).
        input_bias = [_fold_zero_point(b, w.data, in_zp) for b, w in zip(biases, input_weights)]
        recurrent_bias = [_fold_zero_point(np.zeros(units), w.data, hidden_zp) for w in recurrent_weights]
        prefix = self._prefix(layer)

        def gate_arrays(name: str, ctype: str, arrays) -> str:
            """One array of the four gates' values, one gate after the other."""
            values = np.concatenate([np.reshape(a, -1) for a in arrays])
            return self.symbols.array(f"{prefix}_{name}", ctype, values, "requant")

        input_multipliers, input_shifts = zip(*p.input_multipliers)
        recurrent_multipliers, recurrent_shifts = zip(*p.recurrent_multipliers)
        sigmoid_table = self.symbols.array(f"{self.symbol_prefix}_sigmoid_table", "uint16_t", SIGMOID_TABLE_UINT16,
                                           "tables")
        matrices = [np.concatenate([w.data for w in weights]) for weights in (input_weights, recurrent_weights)]
        # pqk_lstm_s8_csr and pqk_lstm_s8_dsp read a unit's four gate rows together: rows unit by unit.
        unit_major = [m.reshape(4, units, -1).transpose(1, 0, 2).reshape(4 * units, -1) for m in matrices]
        choice = choose_lstm_kernel(*matrices, unit_major, steps * batches, self.weight_format, self.target)
        weight_fields, csr_arguments = [], []
        for name, matrix, rows_by_unit, csr in zip(("input_weights", "recurrent_weights"), matrices, unit_major,
                                                   choice.csr):
            if csr is not None:
                weight_fields.append((name, "NULL"))
                csr_arguments.append(self._csr_struct(f"{prefix}_{name}", csr))
                continue
            dense = encode_row_quads(rows_by_unit) if choice.kernel == "pqk_lstm_s8_dsp" else matrix
            weight_fields.append((name, self.symbols.array(f"{prefix}_{name}", "int8_t", dense, "weights")))
            csr_arguments.append("NULL")
        layer.kernel = choice.kernel
        layer.weight_format = "csr" if choice.kernel == "pqk_lstm_s8_csr" else "dense"
        layer.sparsity = float(np.mean(np.concatenate([m.reshape(-1) for m in matrices]) == 0))
        layer.estimated_instructions = choice.estimated_instructions
        layer.macs = steps * batches * 4 * units * (input_size + units)
        fields = [
            ("batches", batches), ("steps", steps), ("input_size", input_size), ("units", units),
            ("time_major", int(op.attrs.time_major)), ("hidden_zero_point", hidden_zp),
            ("input_multiplier", gate_arrays("input_multiplier", "int32_t", input_multipliers)),
            ("input_shift", gate_arrays("input_shift", "int32_t", input_shifts)),
            ("recurrent_multiplier", gate_arrays("recurrent_multiplier", "int32_t", recurrent_multipliers)),
            ("recurrent_shift", gate_arrays("recurrent_shift", "int32_t", recurrent_shifts)),
            ("forget_multiplier", p.forget_multiplier[0]), ("forget_shift", p.forget_multiplier[1]),
            ("input_gate_multiplier", p.input_multiplier[0]), ("input_gate_shift", p.input_multiplier[1]),
            ("hidden_multiplier", p.hidden_multiplier[0]), ("hidden_shift", p.hidden_multiplier[1]),
            ("cell_tanh_multiplier", cell_tanh_multiplier), ("cell_tanh_shift", cell_tanh_shift),
            ("cell_clip", p.cell_clip),
            *weight_fields,
            ("input_bias", gate_arrays("input_bias", "int32_t", input_bias)),
            ("recurrent_bias", gate_arrays("recurrent_bias", "int32_t", recurrent_bias)),
            ("sigmoid_table", sigmoid_table),
        ]
        params = self._params(layer, "pqk_lstm_s8_params_t", fields)
        weights = tuple(csr_arguments) if layer.kernel == "pqk_lstm_s8_csr" else ()
        layer.calls.append(Call(layer.kernel, (params, *weights, self._operand(layer, 0), TensorRef(hidden.name),
                                               TensorRef(cell.name), TensorRef(y.name))))

    @LOWERINGS.register("TRANSPOSE_CONV")
    def _transpose_conv(self, layer: Layer, op: Op) -> None:
        w, x, y = self.tensors[op.inputs[1]], self.tensors[op.inputs[2]], self.tensors[op.outputs[0]]
        bias = self.tensors[op.inputs[3]] if len(op.inputs) > 3 and op.inputs[3] else None
        # 16x8: int16 data (zero point 0), int64 bias and accumulators.
        wide = x.dtype == "int16"
        if wide:
            (in_scale, in_zp), (out_scale, out_zp) = x.per_tensor_quant, y.per_tensor_quant
        else:
            (in_scale, in_zp), (out_scale, out_zp) = _scale_zp(x, "input", op), _scale_zp(y, "output", op)
        n, out_h, out_w, out_c = y.shape
        _, k_h, k_w, in_c = w.shape
        a = op.attrs
        multiplier, shift = conv_multipliers(in_scale, self._filter_scales(w, out_c), out_scale)
        prefix = self._prefix(layer)
        if wide:
            _check_wide_shift(op, shift)
        layer.macs = x.size * out_c * k_h * k_w
        filter_csr = None
        layer.kernel = "pqk_transpose_conv_s16"  # 16x8: a dense filter, whatever the weight format
        if not wide:
            # The taps' rows over the input channels; each output pixel checks every tap of every channel.
            layer.kernel, filter_csr, layer.estimated_instructions = choose_transpose_conv_kernel(
                w.data.reshape(-1, in_c), layer.macs, y.size * k_h * k_w, self.weight_format)
            layer.weight_format = "dense" if filter_csr is None else "csr"
            layer.sparsity = float(np.mean(w.data == 0))
        fields = [
            ("batches", n), ("input_h", x.shape[1]), ("input_w", x.shape[2]), ("input_c", in_c),
            ("output_h", out_h), ("output_w", out_w), ("output_c", out_c),
            ("filter_h", k_h), ("filter_w", k_w), ("stride_h", a.stride_h), ("stride_w", a.stride_w),
            ("pad_h", transpose_conv_padding(out_h, k_h, a.stride_h, a.padding)),
            ("pad_w", transpose_conv_padding(out_w, k_w, a.stride_w, a.padding)),
            *(() if wide else (("input_zero_point", in_zp), ("output_zero_point", out_zp))),
            *zip(("activation_min", "activation_max"),
                 activation_range(a.activation, out_scale, out_zp, "int16" if wide else "int8")),
            ("filter", "NULL" if filter_csr is not None
             else self.symbols.array(f"{prefix}_filter", "int8_t", w.data, "weights")),
            ("bias", "NULL" if bias is None else self.symbols.array(f"{prefix}_bias", "int64_t" if wide else "int32_t",
                                                                    bias.data, "requant")),
            ("multiplier", self.symbols.array(f"{prefix}_multiplier", "int32_t", multiplier, "requant")),
            ("shift", self.symbols.array(f"{prefix}_shift", "int32_t", shift, "requant")),
        ]
        params = self._params(layer, f"pqk_transpose_conv_{'s16' if wide else 's8'}_params_t", fields)
        weights = () if filter_csr is None else (self._csr_struct(f"{prefix}_filter", filter_csr),)
        layer.calls.append(Call(layer.kernel, (params, *weights, self._operand(layer, 2), TensorRef(y.name))))


def _strided_copy_fields(op: Op, dims: list[tuple[int, int]], offset: int) -> list[tuple[str, object]]:
    """pqk_strided_copy_s8_params_t's fields for an output whose axis k has (size, input stride in elements)."""
    merged: list[list[int]] = []
    for size, stride in dims:
        if size == 1:
            continue
        if merged and merged[-1][1] == stride * size:
            merged[-1] = [merged[-1][0] * size, stride]
        else:
            merged.append([size, stride])
    if len(merged) > 4:
        raise UnsupportedModelError(f"op {op.name} ({op.kind}): moves data along {len(merged)} axes (at most 4)")
    merged = [[1, 0]] * (4 - len(merged)) + merged
    fields: list[tuple[str, object]] = [(f"output_shape[{d}]", merged[d][0]) for d in range(4)]
    return fields + [(f"input_strides[{d}]", merged[d][1]) for d in range(4)] + [("input_offset", offset)]


def _check_wide_shift(op: Op, shift: np.ndarray) -> None:
    """pqk_requantize_s64 (TFLite's 64-bit MultiplyByQuantizedMultiplier) shifts right by 15 - shift."""
    if int(np.max(shift)) > 7:
        raise UnsupportedModelError(
            f"op {op.name} ({op.kind}): requantization scale too large (left shift {int(np.max(shift))} > 7)"
        )


def lower_graph(graph: Graph, weight_format: str, target: Target | None = None,
                symbol_prefix: str = "pqk") -> tuple[list[Layer], SymbolTable]:
    """The calls and constant data of every op; C symbols of the model start with ``symbol_prefix``_."""
    lowering = Lowering(graph, weight_format, target, symbol_prefix)
    return lowering.lower(), lowering.symbols


__all__ = ["ARRAY_CATEGORIES", "CArray", "CStruct", "Call", "Layer", "SymbolTable", "TensorRef", "lower_graph"]
