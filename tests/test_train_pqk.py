"""PQK phase 2: the student changes only important weights, the teacher only unimportant ones."""

from __future__ import annotations

import copy

import pytest
import torch

from pqk_mcu.errors import PqkError
from pqk_mcu.train.layers import (
    BatchNorm,
    init_teacher_from_student,
    prunable_layers,
    set_view,
    teacher_only_parameters,
)
from pqk_mcu.train.models import build_model
from pqk_mcu.train.pqk import DualView, PqkOptions, apply_options, distillation_loss, stage_losses, training_step
from pqk_mcu.train.pruning import update_masks
from pqk_mcu.train.qat import set_fake_quant


def _phase2_model(teacher_bn: str = "separate", teacher_precision: str = "fp32"):
    torch.manual_seed(0)
    model = build_model("res8", 4, (12, 6, 1), width=0.2)  # residual adds, BN, FC: every layer kind
    apply_options(model, PqkOptions(teacher_bn=teacher_bn, teacher_precision=teacher_precision))
    set_fake_quant(model, True)
    x, y = torch.randn(16, 1, 12, 6), torch.randint(0, 4, (16,))
    model.train()
    model(x)
    update_masks(model, 0.6, granularity="layer")  # every layer holds both kinds of weights
    init_teacher_from_student(model)
    return model, x, y


def _snapshot(model):
    return [layer.weight.detach().clone() for layer in prunable_layers(model)]


@pytest.mark.parametrize("stage", ["warmup", "mutual"])
@pytest.mark.parametrize("teacher_bn", ["separate", "shared"])
def test_single_network_steps_touch_only_their_own_weights(stage, teacher_bn):
    model, x, y = _phase2_model(teacher_bn)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.1)
    engine = DualView(model)
    for update, frozen_where in (("student", 0), ("teacher", 1)):
        before = _snapshot(model)
        for _ in range(2):
            training_step(engine, model, optimizer, x, y, stage, PqkOptions(teacher_bn=teacher_bn), update=update)
        changed = False
        for layer, old in zip(prunable_layers(model), before):
            fixed = layer.mask == frozen_where
            assert torch.equal(layer.weight[fixed], old[fixed])
            changed |= not torch.equal(layer.weight[~fixed], old[~fixed])
        assert changed


@pytest.mark.parametrize("teacher_precision", ["fp32", "int8"])
def test_combined_step_gradients_are_routed(teacher_precision):
    model, x, y = _phase2_model(teacher_precision=teacher_precision)
    engine = DualView(model)
    engine.with_teacher = True
    student, teacher = engine(x)
    losses = stage_losses("mutual", student, teacher, y, PqkOptions())
    student_loss = losses["student_ce"] + losses["student_kd"]
    teacher_loss = losses["teacher_ce"] + losses["teacher_kd"]
    weights = [layer.weight for layer in prunable_layers(model)]
    student_grads = torch.autograd.grad(student_loss, weights, retain_graph=True)
    teacher_grads = torch.autograd.grad(teacher_loss, weights)
    for layer, g_student, g_teacher in zip(prunable_layers(model), student_grads, teacher_grads):
        assert torch.all(g_student[layer.mask == 0] == 0)
        assert torch.all(g_teacher[layer.mask == 1] == 0)
        assert g_teacher[layer.mask == 0].abs().sum() > 0


def test_teacher_sees_all_weights_and_student_only_important_ones():
    model, x, _ = _phase2_model()
    model.eval()
    set_view(model, "student")
    student = model(x)
    set_view(model, "teacher")
    teacher = model(x)
    for layer in prunable_layers(model):
        with torch.no_grad():
            layer.weight.mul_(layer.mask)  # drop the unimportant weights
    assert not torch.equal(model(x), teacher)  # the teacher used them
    set_view(model, "student")
    assert torch.equal(model(x), student)  # the student never did


def test_shared_batch_norm_teacher_leaves_student_statistics_alone():
    model, x, y = _phase2_model("shared")
    bns = [m for m in model.modules() if isinstance(m, BatchNorm)]
    stats = [(bn.running_mean.clone(), bn.running_var.clone()) for bn in bns]
    set_view(model, "teacher")
    model.train()
    model(x)
    for bn, (mean, var) in zip(bns, stats):
        assert torch.equal(bn.running_mean, mean) and torch.equal(bn.running_var, var)


def test_distillation_loss_is_tau_squared_kl():
    student, teacher = torch.randn(5, 4), torch.randn(5, 4)
    p = torch.softmax(teacher / 4, dim=1)
    expected = (p * (p.log() - torch.log_softmax(student / 4, dim=1))).sum(dim=1).mean() * 16
    assert torch.allclose(distillation_loss(student, teacher, 4.0), expected)
    assert distillation_loss(teacher, teacher, 2.0).abs() < 1e-6


def test_options_reject_unknown_values():
    assert PqkOptions().with_overrides({"tau": "2", "teacher_bn": "shared"}) == PqkOptions(tau=2.0, teacher_bn="shared")
    with pytest.raises(PqkError):
        PqkOptions().with_overrides({"temperature": "2"})
    with pytest.raises(PqkError):
        PqkOptions(teacher_precision="int4")
    with pytest.raises(PqkError, match="student_lr_scale must be positive"):
        PqkOptions(student_lr_scale=0)


def test_student_learning_rate_scale_shrinks_only_the_students_step():
    model, x, y = _phase2_model()
    scaled = copy.deepcopy(model)
    moved = {}
    for name, net, options in (("full", model, PqkOptions()), ("scaled", scaled, PqkOptions(student_lr_scale=0.25))):
        before = copy.deepcopy(net)
        optimizer = torch.optim.AdamW(net.parameters(), lr=0.05, weight_decay=0.1)
        training_step(DualView(net), net, optimizer, x, y, "mutual", options)
        moved[name] = [(a - b).detach() for a, b in zip(net.parameters(), before.parameters())]
    teacher_only = {id(p) for p in teacher_only_parameters(model)}
    weights = {id(layer.weight): layer.mask > 0 for layer in prunable_layers(model)}
    for param, full, small in zip(model.parameters(), moved["full"], moved["scaled"]):
        if id(param) in teacher_only:
            assert torch.equal(full, small)
            continue
        important = weights.get(id(param), torch.ones_like(param, dtype=torch.bool))
        # float rounding of before + 0.25 * (after - before): equal to a few ulps, not bit for bit
        assert torch.allclose(small[important], 0.25 * full[important], rtol=1e-4, atol=1e-7)
        assert torch.equal(small[~important], full[~important])
        assert full[important].abs().sum() > 0
