"""Gradual magnitude pruning (Zhu & Gupta 2017, "To prune, or not to prune").

Sparsity follows the cubic schedule

    s(t) = s_f + (s_i - s_f) * (1 - (t - t_0) / (t_end - t_0))^3,

re-evaluated every ``frequency`` steps between ``t_0`` and ``t_end``: each update prunes the
smallest-magnitude weights that are still important until all prunable weights together
(``granularity="global"``, the trainer's default) or each layer (``"layer"``) reach s(t). Pruning is iterative and monotone: a pruned
weight stays pruned. Masks are buffers of the layers (1 = important), so they are saved in
checkpoints and define both the student (``weight * mask``) and, in PQK phase 2, the teacher's
extra weights (``weight * (1 - mask)``). Pruned weights keep their values: the trainer freezes them
(``pqk_mcu.train.pqk.scaled_updates``) instead of zeroing them, because the PQK teacher reuses them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pqk_mcu.train.layers import prunable_layers

GRANULARITIES = ("layer", "global")


@dataclass(frozen=True)
class PruningSchedule:
    final_sparsity: float
    begin_step: int
    end_step: int
    frequency: int = 1
    initial_sparsity: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.initial_sparsity <= self.final_sparsity < 1.0:
            raise ValueError(f"need 0 <= initial <= final sparsity < 1, got {self.initial_sparsity}, {self.final_sparsity}")
        if self.end_step < self.begin_step or self.frequency < 1:
            raise ValueError("pruning needs begin_step <= end_step and frequency >= 1")

    def sparsity_at(self, step: int) -> float:
        """Target sparsity in force after the last update at or before ``step``."""
        if step < self.begin_step:
            return 0.0
        if step >= self.end_step or self.end_step == self.begin_step:
            return self.final_sparsity
        last_update = self.begin_step + (step - self.begin_step) // self.frequency * self.frequency
        progress = (last_update - self.begin_step) / (self.end_step - self.begin_step)
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * (1.0 - progress) ** 3

    def is_update_step(self, step: int) -> bool:
        if step == self.end_step:
            return True
        return self.begin_step <= step < self.end_step and (step - self.begin_step) % self.frequency == 0


@torch.no_grad()
def _prune_smallest(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Mask (1 = keep) that removes the ``count`` lowest scores (ties by position)."""
    keep = torch.ones(scores.numel(), dtype=torch.float32)
    if count > 0:
        order = torch.argsort(scores.reshape(-1), stable=True)
        keep[order[:count]] = 0.0
    return keep


@torch.no_grad()
def update_masks(model: nn.Module, sparsity: float, granularity: str = "global") -> None:
    """Prune the smallest important weights until ``sparsity`` is reached (never un-prunes)."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    layers = prunable_layers(model)
    # Already-pruned weights score -1 (below every magnitude), so they are the first to stay pruned.
    scores = [torch.where(layer.mask > 0, layer.weight.detach().abs(), torch.full_like(layer.weight, -1.0)) for layer in layers]
    if granularity == "layer":
        for layer, score in zip(layers, scores):
            keep = _prune_smallest(score, round(sparsity * score.numel()))
            layer.mask.copy_(torch.minimum(layer.mask, keep.reshape(layer.mask.shape)))
        return
    flat = torch.cat([s.reshape(-1) for s in scores])
    keep = _prune_smallest(flat, round(sparsity * flat.numel()))
    offset = 0
    for layer in layers:
        size = layer.mask.numel()
        layer.mask.copy_(torch.minimum(layer.mask, keep[offset : offset + size].reshape(layer.mask.shape)))
        offset += size


def mask_sparsity(model: nn.Module) -> float:
    """Fraction of prunable weights the masks remove."""
    masks = [layer.mask for layer in prunable_layers(model)]
    total = sum(m.numel() for m in masks)
    return float(sum((m == 0).sum().item() for m in masks)) / max(total, 1)
