"""Kernel registry of the reference interpreter: op kind -> numpy kernel (registered against the op's
definition, ``pqk_mcu.ir.opdef``).

A kernel receives a ``KernelCall`` (the op, its input/output ``Tensor`` descriptions and the
input values) and returns one array per output, with the output tensor's dtype and shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from pqk_mcu.errors import UnsupportedModelError
from pqk_mcu.ir.graph import Op, Tensor
from pqk_mcu.ir.opdef import Implementations


@dataclass(frozen=True)
class KernelCall:
    op: Op
    inputs: Sequence[Tensor | None]
    outputs: Sequence[Tensor]
    values: Sequence[np.ndarray | None]

    @property
    def attrs(self):
        return self.op.attrs

    @property
    def output(self) -> Tensor:
        return self.outputs[0]


Kernel = Callable[[KernelCall], list[np.ndarray]]

KERNELS: Implementations[Kernel] = Implementations("reference kernel")
# Register the decorated function as the reference kernel of the given op kinds.
kernel = KERNELS.register


def scale_and_zero_point(tensor: Tensor) -> tuple[float, int]:
    """Per-tensor quantization of an activation tensor."""
    quant = tensor.per_tensor_quant
    if quant is None:
        raise UnsupportedModelError(f"tensor '{tensor.name}' needs per-tensor quantization")
    return quant
