"""SPLIT, SPLIT_V and UNPACK (int8, int16): one output per part of the input, values unchanged (TFLite Micro's
split.cc, split_v.cc and unpack.cc copy without rescaling)."""

from __future__ import annotations

import numpy as np

from pqk_mcu.ir.ops import split_sizes
from pqk_mcu.reference.registry import KernelCall, kernel


@kernel("SPLIT", "SPLIT_V")
def split(call: KernelCall) -> list[np.ndarray]:
    """Consecutive parts along the axis, of equal sizes (SPLIT) or of size_splits (SPLIT_V)."""
    x = call.values[1] if call.op.kind == "SPLIT" else call.values[0]
    axis, sizes = split_sizes(call.op, list(call.inputs))
    return [part.copy() for part in np.split(x, np.cumsum(sizes)[:-1], axis=axis)]


@kernel("UNPACK")
def unpack(call: KernelCall) -> list[np.ndarray]:
    """One output per index along the axis, without that axis."""
    return [np.take(call.values[0], k, axis=call.attrs.axis) for k in range(call.attrs.num)]
