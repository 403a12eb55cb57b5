"""``tflite_round`` for torch tensors (fake quantization in training).

Kept apart from ``fixed_point.py`` so that the compiler and reference never import torch.
"""

from __future__ import annotations

import torch


def round_half_away(values: torch.Tensor) -> torch.Tensor:
    """Element-wise ``pqk_mcu.quant.tflite_round``: floor(|v|), +1 when the fraction is >= 0.5.

    ``|v| + 0.5`` would itself round in float32 (0.49999997 + 0.5 == 1.0), so the fraction is
    compared instead; ``|v| - floor(|v|)`` is exact in floating point.
    """
    magnitude = values.abs()
    floor = torch.floor(magnitude)
    return torch.copysign(floor + (magnitude - floor >= 0.5).to(values.dtype), values)
