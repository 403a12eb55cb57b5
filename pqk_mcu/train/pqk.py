"""PQK (Kim, Chang & Kwak, Interspeech 2021): pruning, quantization and knowledge distillation.

Phase 1 trains the student from random initialization with gradual magnitude pruning and int8 QAT.
Phase 2 builds the teacher from the *same* weight tensors: the student's important weights plus the
pruned (unimportant) ones, which were frozen, not zeroed, in phase 1. Storage is shared — the student
sees ``W * mask``, the teacher sees ``W`` (``pqk_mcu.train.layers``):

- warm-up (stage ``"warmup"``): student cross-entropy updates only important weights, teacher
  cross-entropy updates only unimportant weights;
- mutual distillation (stage ``"mutual"``): student loss = CE + KL(teacher || student), teacher loss
  = CE + KL(student || teacher), both KL terms at temperature ``tau`` and scaled by ``tau**2`` (Hinton
  et al.), the other network's distribution detached.

Both losses are summed and back-propagated once. The routing is structural: the student's forward
only reaches ``W * mask``; the teacher's forward uses ``(W*mask).detach() + W*(1-mask)``, so the
teacher loss cannot move an important weight and the student loss cannot move an unimportant one.
``scaled_updates`` additionally pins entries an optimizer would move through momentum or weight
decay alone (phase 1's pruned weights; the other network in single-network steps).

Design choices the paper leaves open are ``PqkOptions`` fields (defaults documented there); the
experiment's ``--ablation key=value`` varies them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from pqk_mcu.errors import PqkError
from pqk_mcu.train.layers import (
    TEACHER_BN_MODES,
    TEACHER_PRECISIONS,
    configure_teacher,
    prunable_layers,
    set_view,
    student_parameters,
    teacher_only_parameters,
)

STAGES = ("phase1", "warmup", "mutual")


@dataclass(frozen=True)
class PqkOptions:
    """Phase-2 options.

    tau: distillation temperature (KL scaled by tau^2). Default 1: the best of the grid's temperatures at
        both DS-CNN widths (benchmarks/kws: PQK @0.8 99.8% at tau 1 vs 99.5% at 4, width 2); the
        common KD choice 4 is the grid's ``tau=4`` ablation.
    ce_weight / kd_weight: weights of cross-entropy and KL in both networks' losses (default 1, 1).
    warmup_fraction: share of phase-2 steps spent in the CE-only warm-up (default 0.2).
    lr_scale: phase-2 learning rate relative to phase 1's (default 1: the teacher's unimportant
        weights start where pruning froze them and need full-rate training).
    student_lr_scale: the student's phase-2 learning rate relative to the teacher's (default 1).
    teacher_precision: "fp32" (default: the teacher is a float network, the student alone is int8)
        or "int8" (teacher also fake-quantized, with its own observers).
    teacher_bn: "separate" (default: the teacher has its own batch-norm parameters and statistics,
        initialized from the student's; its activations differ because it sees more weights) or
        "shared" (the teacher normalizes with the student's statistics/affine parameters, frozen for it).
    """

    tau: float = 1.0
    ce_weight: float = 1.0
    kd_weight: float = 1.0
    warmup_fraction: float = 0.2
    lr_scale: float = 1.0
    student_lr_scale: float = 1.0
    teacher_precision: str = "fp32"
    teacher_bn: str = "separate"

    def __post_init__(self) -> None:
        for name in ("tau", "ce_weight", "kd_weight", "warmup_fraction", "lr_scale", "student_lr_scale"):
            if not math.isfinite(getattr(self, name)):
                raise PqkError(f"{name} must be a finite number, got {getattr(self, name)}")
        if self.tau <= 0:
            raise PqkError(f"tau must be positive, got {self.tau}")
        for name in ("ce_weight", "kd_weight"):
            if getattr(self, name) < 0:
                raise PqkError(f"{name} must not be negative, got {getattr(self, name)}")
        for name in ("lr_scale", "student_lr_scale"):
            if getattr(self, name) <= 0:
                raise PqkError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0.0 <= self.warmup_fraction <= 1.0:
            raise PqkError(f"warmup_fraction must be in [0, 1], got {self.warmup_fraction}")
        if self.teacher_precision not in TEACHER_PRECISIONS:
            raise PqkError(f"teacher_precision must be one of {', '.join(TEACHER_PRECISIONS)}")
        if self.teacher_bn not in TEACHER_BN_MODES:
            raise PqkError(f"teacher_bn must be one of {', '.join(TEACHER_BN_MODES)}")

    def with_overrides(self, overrides: dict[str, str]) -> "PqkOptions":
        """Options with ``{"tau": "2", ...}`` applied (values parsed by field type)."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        changes = {}
        for key, text in overrides.items():
            if key not in fields:
                raise PqkError(f"unknown PQK option {key!r} (choose from {', '.join(fields)})")
            if fields[key].type != "float":
                changes[key] = text
                continue
            try:
                changes[key] = float(text)
            except ValueError:
                raise PqkError(f"PQK option {key}: expected a number, got {text!r}") from None
        return dataclasses.replace(self, **changes)


def apply_options(model: nn.Module, options: PqkOptions) -> None:
    configure_teacher(model, options.teacher_precision, options.teacher_bn)


def distillation_loss(student_logits: torch.Tensor, target_logits: torch.Tensor, tau: float) -> torch.Tensor:
    """KL(softmax(target/tau) || softmax(student/tau)) * tau^2, the target detached."""
    target = F.softmax(target_logits.detach() / tau, dim=1)
    return F.kl_div(F.log_softmax(student_logits / tau, dim=1), target, reduction="batchmean") * tau**2


class DualView(nn.Module):
    """One forward computing the student and (optionally) the teacher: one DDP forward per step."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.with_teacher = False

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        set_view(self.model, "student")
        student = self.model(x)
        if not self.with_teacher:
            return student, None
        set_view(self.model, "teacher")
        teacher = self.model(x)
        set_view(self.model, "student")
        return student, teacher


def stage_losses(
    stage: str, student: torch.Tensor, teacher: torch.Tensor | None, labels: torch.Tensor, options: PqkOptions
) -> dict[str, torch.Tensor]:
    """Named loss terms of one step; ``total`` is what is back-propagated."""
    if stage == "phase1":
        ce = F.cross_entropy(student, labels)
        return {"total": ce, "student_ce": ce}
    if teacher is None:
        raise ValueError(f"stage {stage!r} needs the teacher's logits")
    student_ce = F.cross_entropy(student, labels)
    teacher_ce = F.cross_entropy(teacher, labels)
    if stage == "warmup":
        return {"total": student_ce + teacher_ce, "student_ce": student_ce, "teacher_ce": teacher_ce}
    student_kd = distillation_loss(student, teacher, options.tau)
    teacher_kd = distillation_loss(teacher, student, options.tau)
    student_loss = options.ce_weight * student_ce + options.kd_weight * student_kd
    teacher_loss = options.ce_weight * teacher_ce + options.kd_weight * teacher_kd
    return {
        "total": student_loss + teacher_loss,
        "student_ce": student_ce,
        "teacher_ce": teacher_ce,
        "student_kd": student_kd,
        "teacher_kd": teacher_kd,
    }


@contextlib.contextmanager
def scaled_updates(model: nn.Module, student: float = 1.0, teacher: float = 1.0) -> Iterator[None]:
    """Scale, after the block, what the optimizer step in it did to each network.

    The student's share is the important weight entries and its own parameters, the teacher's the
    unimportant entries and the teacher-only parameters. 0 restores a share exactly, pinning entries an
    optimizer would move through momentum or weight decay alone (phase 1's pruned weights; the other
    network in single-network steps). Student and teacher share weight tensors, so a learning rate per
    network is applied per entry here: AdamW's step is proportional to its rate, so a factor equals
    that network's rate times it (the optimizer's moments are untouched).
    """
    if student == teacher == 1.0:
        yield
        return
    layers = prunable_layers(model)
    weights = [layer.weight.detach().clone() for layer in layers]
    # a share left at 1 needs no snapshot: this runs on every training step
    shares = [(params, scale) for params, scale in ((_student_non_weight_parameters(model), student),
                                                    (teacher_only_parameters(model), teacher)) if scale != 1.0]
    saved = [[p.detach().clone() for p in params] for params, _ in shares]
    yield
    with torch.no_grad():
        for layer, before in zip(layers, weights):
            important = layer.mask > 0
            layer.weight.copy_(torch.where(important, _scaled(before, layer.weight, student),
                                           _scaled(before, layer.weight, teacher)))
        for (params, scale), befores in zip(shares, saved):
            for param, before in zip(params, befores):
                param.copy_(_scaled(before, param, scale))


def _scaled(before: torch.Tensor, after: torch.Tensor, scale: float) -> torch.Tensor:
    if scale == 0.0:
        return before
    return after if scale == 1.0 else before + scale * (after - before)


def _student_non_weight_parameters(model: nn.Module) -> list[nn.Parameter]:
    prunable = {id(layer.weight) for layer in prunable_layers(model)}
    return [p for p in student_parameters(model) if id(p) not in prunable]


def training_step(
    engine: nn.Module,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    stage: str,
    options: PqkOptions,
    update: str = "both",
    check_finite=None,
) -> dict[str, float]:
    """One optimization step of ``stage``; ``engine`` is ``DualView(model)`` or its DDP wrapper.

    ``update`` ("both", "student", "teacher") restricts a phase-2 step to one network (used by
    ablations and the routing tests); ``check_finite(loss)`` may raise before the update.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    dual = engine.module if hasattr(engine, "module") else engine
    dual.with_teacher = stage != "phase1"
    student, teacher = engine(inputs)
    losses = stage_losses(stage, student, teacher, labels, options)
    if stage != "phase1" and update != "both":
        prefix = f"{update}_"
        loss = sum(v for k, v in losses.items() if k.startswith(prefix) and k.endswith("ce")) * (
            1.0 if stage == "warmup" else options.ce_weight
        )
        if stage == "mutual":
            loss = loss + options.kd_weight * losses[f"{update}_kd"]
    else:
        loss = losses["total"]
    if check_finite is not None:
        check_finite(loss)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if stage == "phase1":
        scales = {"teacher": 0.0}
    else:
        scales = {"student": 0.0 if update == "teacher" else options.student_lr_scale,
                  "teacher": 0.0 if update == "student" else 1.0}
    with scaled_updates(model, **scales):
        optimizer.step()
    return {k: float(v.detach()) for k, v in losses.items()}
