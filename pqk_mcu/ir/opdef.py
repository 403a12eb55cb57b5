"""The op registry: one ``OpDef`` per op kind says everything the IR, the importer and the exporter
need to know about the op, and ``Implementations`` is the one mechanism by which the reference
interpreter and the lowering attach their code to a defined kind.

Definitions of the built-in ops live in ``pqk_mcu.ir.ops``; adding an op is its definition there,
its reference kernel, its lowering and its C kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

from pqk_mcu.ir.graph import Graph, Op


@dataclass(frozen=True)
class TfliteOptions:
    """How an op's attributes travel in a .tflite file; the importer and the exporter read and write
    them generically, so no per-op code lives there."""

    table: str | None = None  # builtin options table as the schema names it (None: the op carries none)
    fields: tuple[tuple[str, str], ...] = ()  # (attribute, table field)
    required: bool = False  # a file must carry the table: its fields have no usable defaults
    # (table field, the only supported value, what another value means) for fields the IR does not model.
    only_values: tuple[tuple[str, int, str], ...] = ()
    version: int | Callable[[Op, Graph], int] = 1  # operator version of the int8 form (TFLite's op_version.cc)
    # Tensors the exporter lists as the operator's intermediates: (op, graph) -> tensors. TFLite (not
    # TFLite Micro, and not the IR) reads quantization from them; the importer ignores them.
    intermediates: Callable | None = None

    def operator_version(self, op: Op, graph: Graph) -> int:
        return self.version if isinstance(self.version, int) else self.version(op, graph)


@dataclass(frozen=True)
class OpDef:
    """One op kind. Inputs follow TFLite's order; slot numbers below index ``Op.inputs``."""

    kind: str  # TFLite's builtin operator name
    attrs: type  # frozen dataclass of the attributes, defaults included
    # (op, input tensors or None for absent optional ones) -> output shape; raises ShapeError.
    shape_rule: Callable
    inputs: tuple[int, int]  # (fewest, most) inputs
    optional_slots: tuple[int, ...] = ()  # inputs a file may leave absent ("" in the IR)
    constant_slots: tuple[int, ...] = ()  # inputs that are constant operands, not activations
    # Constant int32 output shape the kernel never reads (TFLite Micro takes the output tensor's shape): a
    # file may feed it from a graph input, which the importer replaces by a constant of the output's shape.
    output_shape_slot: int | None = None
    state_slots: tuple[int, ...] = ()  # inputs that are variable (state) tensors the op updates in place
    weight_axis: int | None = None  # per-channel quantization axis of a weighted op's weights (slot 1)
    # Constant int8 weight inputs that magnitude pruning zeroes besides a weighted op's slot 1 (``pruned_slots``).
    prunable_slots: tuple[int, ...] = ()
    bias_required: bool = False  # runtimes dereference the bias, so the IR always carries one (slot 2)
    # Quantization the int8 kernel assumes: "first" (the first input's equals the output's) or "all" inputs'.
    same_quant: str = ""
    fixed_output_quant: tuple[float, int] | None = None  # (scale, zero point) TFLite Micro requires
    # (scale, zero point) TFLite Micro requires of an int16 output from int8 inputs (SOFTMAX's 8-in 16-out form)
    int16_output_quant: tuple[float, int] | None = None
    # (scale, zero point) TFLite Micro requires of the output of the int16 form (int16 in, int16 out)
    int16_form_output_quant: tuple[float, int] | None = None
    max_input_rank: int | None = None  # where TFLite Micro's kernel accepts less than the IR's general limit
    fuses_activation: bool = False  # the kernel ends in a clamp: a fused activation or a standalone RELU folds in
    # One output per part (SPLIT, UNPACK): the shape rule returns a shape per output, and every output keeps
    # the activation input's type and quantization (values move unchanged).
    multiple_outputs: bool = False
    float_input: bool = False  # input 0 may be float32 (QUANTIZE)
    float_output: bool = False  # the output is float32 (DEQUANTIZE)
    # Activation types the op runs on: int16 (zero point 0) where TFLite's 16x8 form runs too (int8 weights).
    activation_dtypes: tuple[str, ...] = ("int8",)
    converts_dtype: bool = False  # input and output activation types may differ (QUANTIZE); else they agree
    # Normalizes attributes read from a file against the tensors: (attrs, inputs, outputs, where) -> attrs.
    resolve_attrs: Callable | None = None
    # Dtype and quantization rules of the op's own operands beyond the generic ones:
    # (input tensors or None, output tensor, where) -> None; raises PqkError.
    check_operands: Callable | None = None
    tflite: TfliteOptions = TfliteOptions()

    @property
    def weighted(self) -> bool:
        """Slot 1 holds int8 weights (pruned, stored dense or CSR), slot 2 an optional int32 bias."""
        return self.weight_axis is not None

    @property
    def pruned_slots(self) -> tuple[int, ...]:
        """The inputs ``pqk_mcu.ir.prune`` zeroes: a weighted op's weights and the ``prunable_slots``."""
        return ((1,) if self.weighted else ()) + self.prunable_slots


OP_DEFS: dict[str, OpDef] = {}


def define_op(definition: OpDef) -> OpDef:
    if definition.kind in OP_DEFS:
        raise ValueError(f"op {definition.kind} is defined twice")
    OP_DEFS[definition.kind] = definition
    return definition


Implementation = TypeVar("Implementation", bound=Callable)


class Implementations(dict, Generic[Implementation]):
    """Op kind -> one implementation (a reference kernel, a lowering), registered against a defined op."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def register(self, *kinds: str) -> Callable[[Implementation], Implementation]:
        """Register the decorated function as the implementation of ``kinds``."""

        def register(function: Implementation) -> Implementation:
            for kind in kinds:
                if kind not in OP_DEFS:
                    raise ValueError(f"{self.what} for {kind}, which has no op definition")
                if kind in self:
                    raise ValueError(f"two {self.what}s for {kind}")
                self[kind] = function
            return function

        return register
