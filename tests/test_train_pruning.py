"""Gradual magnitude pruning: cubic schedule values, monotone masks, per-layer and global."""

from __future__ import annotations

import pytest
import torch

from pqk_mcu.train.layers import prunable_layers
from pqk_mcu.train.models import build_model
from pqk_mcu.train.pruning import PruningSchedule, mask_sparsity, update_masks


def test_cubic_schedule_values():
    schedule = PruningSchedule(final_sparsity=0.8, begin_step=10, end_step=110, frequency=10)
    assert schedule.sparsity_at(0) == 0.0
    assert schedule.sparsity_at(10) == 0.0
    assert schedule.sparsity_at(60) == pytest.approx(0.8 - 0.8 * 0.5**3)
    assert schedule.sparsity_at(65) == schedule.sparsity_at(60)  # constant between updates
    assert schedule.sparsity_at(110) == 0.8 and schedule.sparsity_at(10_000) == 0.8
    assert [s for s in range(0, 120) if schedule.is_update_step(s)] == list(range(10, 111, 10))
    values = [schedule.sparsity_at(s) for s in range(0, 120)]
    assert values == sorted(values)


def test_per_layer_pruning_is_exact_monotone_and_keeps_pruned_values():
    torch.manual_seed(0)
    model = build_model("mnist-cnn", 10, (8, 8, 1), width=0.5)
    update_masks(model, 0.5, granularity="layer")
    first = [layer.mask.clone() for layer in prunable_layers(model)]
    for layer in prunable_layers(model):
        assert int((layer.mask == 0).sum()) == round(0.5 * layer.mask.numel())
        with torch.no_grad():  # make pruned weights large: they must stay pruned
            layer.weight.add_(100.0 * (1 - layer.mask))
    update_masks(model, 0.75, granularity="layer")
    for layer, before in zip(prunable_layers(model), first):
        assert torch.all(layer.mask <= before)
        assert int((layer.mask == 0).sum()) == round(0.75 * layer.mask.numel())
    assert "fc.mask" in model.state_dict()


def test_global_pruning_reaches_the_overall_target():
    torch.manual_seed(0)
    model = build_model("ds-cnn", 12, (49, 10, 1), width=0.25)
    update_masks(model, 0.9, granularity="global")
    total = sum(layer.mask.numel() for layer in prunable_layers(model))
    assert mask_sparsity(model) == round(0.9 * total) / total
    per_layer = [float((layer.mask == 0).float().mean()) for layer in prunable_layers(model)]
    assert max(per_layer) - min(per_layer) > 0.05  # thresholds are shared, not per layer
