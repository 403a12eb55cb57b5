"""The immutable graph IR.

A ``Graph`` is a tuple of ``Tensor``s and a topologically ordered tuple of ``Op``s. Everything is a
frozen dataclass; constant data are read-only numpy arrays. Passes never mutate: they build a new
graph with ``dataclasses.replace`` / ``Graph.with_...`` helpers.

Layouts follow TFLite: activations NHWC; CONV_2D filters OHWI; DEPTHWISE_CONV_2D filters
1HW(I*M); FULLY_CONNECTED weights [out, in]; biases int32 with scale input_scale * filter_scale
and zero point 0.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

import numpy as np

if TYPE_CHECKING:  # ops defines its ops in terms of Graph and Op
    from pqk_mcu.ir.ops import OpAttrs

DTYPES = ("int8", "uint8", "int16", "int32", "int64", "float32", "bool")


@dataclass(frozen=True)
class QuantParams:
    """Affine quantization: real = scale * (q - zero_point).

    Per-tensor: one scale and zero point and ``axis`` None. Per-axis: one per slice along ``axis``.
    Scales are Python floats holding float32 values exactly (as stored in a .tflite).
    """

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", tuple(float(np.float32(s)) for s in self.scale))
        object.__setattr__(self, "zero_point", tuple(int(z) for z in self.zero_point))

    @property
    def per_channel(self) -> bool:
        return self.axis is not None


@dataclass(frozen=True, eq=False)
class Tensor:
    """A named tensor. ``data`` is set for constants (weights, biases, shape operands). A ``variable``
    tensor is an op's state (SVDF's activation state): no op produces it, the op that reads it also
    updates it in place, and it keeps its value from one invocation to the next."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: QuantParams | None = None
    data: np.ndarray | None = None
    variable: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if self.data is not None:
            array = np.array(self.data, dtype=np.dtype(self.dtype), copy=True).reshape(self.shape)
            array.setflags(write=False)
            object.__setattr__(self, "data", array)

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def per_tensor_quant(self) -> tuple[float, int] | None:
        """(scale, zero point) when one quantization covers the whole tensor, else None."""
        if self.quant is None or self.quant.per_channel:
            return None
        return self.quant.scale[0], self.quant.zero_point[0]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    def _key(self):
        data_key = None if self.data is None else (self.data.dtype.str, self.data.tobytes())
        return (self.name, self.shape, self.dtype, self.quant, data_key, self.variable)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tensor) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.name, self.shape, self.dtype))


@dataclass(frozen=True)
class Op:
    """One operator. ``inputs`` name tensors in TFLite order; "" marks an absent optional input."""

    kind: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: OpAttrs


@dataclass(frozen=True)
class Graph:
    tensors: tuple[Tensor, ...]
    ops: tuple[Op, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    metadata: tuple[tuple[str, str], ...] = field(default=())

    @property
    def tensor_map(self) -> Mapping[str, Tensor]:
        return {t.name: t for t in self.tensors}

    def tensor(self, name: str) -> Tensor:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)

    @property
    def metadata_map(self) -> dict[str, str]:
        return dict(self.metadata)

    def producers(self) -> dict[str, Op]:
        return {out: op for op in self.ops for out in op.outputs}

    def consumers(self) -> dict[str, list[Op]]:
        result: dict[str, list[Op]] = {}
        for op in self.ops:
            for name in op.inputs:
                if name:
                    result.setdefault(name, []).append(op)
        return result

    def replace(self, **changes) -> "Graph":
        return dataclasses.replace(self, **changes)

    def fingerprint(self) -> str:
        """SHA-256 over everything that defines the graph's meaning (stable across runs)."""
        digest = hashlib.sha256()
        for t in self.tensors:
            digest.update(repr((t.name, t.shape, t.dtype, t.quant) + (("variable",) if t.variable else ())).encode())
            if t.data is not None:
                digest.update(np.ascontiguousarray(t.data).tobytes())
        for op in self.ops:
            digest.update(repr(op).encode())
        digest.update(repr((self.inputs, self.outputs, self.metadata)).encode())
        return digest.hexdigest()
