"""Knowledge distillation in the Trainer: the soft term against a reference formula, its gradient,
training toward a teacher, and each refusal."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.nn import functional as F

from fastsnn.config.model import ModelConfig
from fastsnn.errors import FastSNNError
from fastsnn.model import build_model
from fastsnn.testing import use_plugins
from fastsnn.train.distill import distillation_loss
from fastsnn.train.trainer import TrainConfig, Trainer
from toy_plugins import make_plugin

MODEL = dict(vocab_size=32, d_model=16, n_layers=2, n_heads=2, max_seq_len=64, attention="cummean",
             neuron={"name": "half", "threshold": 0.01})


@pytest.fixture(autouse=True)
def _toy():
    with use_plugins(make_plugin()):
        yield


def batches(n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(n):
        yield torch.randint(0, 32, (4, 17), generator=gen)


@pytest.mark.parametrize("tau", [1.0, 2.5])
def test_the_soft_term_is_tau_squared_kl_and_its_gradient_reaches_only_the_student(tau):
    gen = torch.Generator().manual_seed(0)
    student = torch.randn(3, 5, 7, generator=gen, dtype=torch.float64, requires_grad=True)
    teacher = torch.randn(3, 5, 7, generator=gen, dtype=torch.float64, requires_grad=True)
    p = (teacher / tau).softmax(-1)
    reference = (p * ((teacher / tau).log_softmax(-1) - (student / tau).log_softmax(-1))).sum(-1).mean() * tau**2
    got = distillation_loss(student, teacher, tau)
    assert torch.allclose(got.double(), reference, atol=1e-6)
    got.backward()
    expected = torch.autograd.grad(reference, student)[0]
    assert torch.allclose(student.grad.double(), expected, atol=1e-6) and teacher.grad is None
    assert float(distillation_loss(student.detach(), student.detach().clone(), tau)) == pytest.approx(0.0, abs=1e-6)


def test_distillation_loss_bad_inputs():
    with pytest.raises(FastSNNError, match="the same vocabulary"):
        distillation_loss(torch.zeros(2, 3, 5), torch.zeros(2, 3, 6))
    with pytest.raises(FastSNNError, match="temperature must be positive"):
        distillation_loss(torch.zeros(2, 5), torch.zeros(2, 5), 0.0)


def test_a_student_equal_to_its_teacher_gets_no_gradient_from_pure_distillation():
    teacher = build_model(ModelConfig(**MODEL), seed=1)
    student = copy.deepcopy(teacher)
    cfg = TrainConfig(max_steps=1, lr=1e-2, weight_decay=0.0, distill_weight=1.0, log_every=1, spike_stats=False)
    history = Trainer(student, cfg, teacher=teacher, callbacks=[lambda r: None]).fit(batches(1))
    assert history[0]["distill_kl"] == pytest.approx(0.0, abs=1e-9)
    assert history[0]["grad_norm"] < 1e-6  # the cross-entropy's gradient is fully replaced (α = 1)
    assert history[0]["loss"] > 0  # "loss" is still the cross-entropy on the data


def test_distillation_pulls_the_student_toward_the_teacher_and_leaves_the_teacher_alone():
    teacher = build_model(ModelConfig(**MODEL), seed=1)
    teacher_state = copy.deepcopy(teacher.state_dict())
    probe = next(batches(1, seed=9))[:, :-1]

    def kl_to_teacher(student):
        with torch.no_grad():
            return float(distillation_loss(student.eval()(probe), teacher.eval()(probe)))

    def trained(distill_weight):
        student = build_model(ModelConfig(**MODEL), seed=2)
        cfg = TrainConfig(max_steps=40, lr=3e-2, distill_weight=distill_weight, distill_temperature=2.0,
                          log_every=10, spike_stats=False)
        history = Trainer(student, cfg, teacher=teacher if distill_weight else None,
                          callbacks=[lambda r: None]).fit(batches(40))
        return student, history

    start = kl_to_teacher(build_model(ModelConfig(**MODEL), seed=2))
    distilled, history = trained(1.0)
    data_only, _ = trained(0.0)
    assert kl_to_teacher(distilled) < 0.6 * start
    assert kl_to_teacher(distilled) < 0.6 * kl_to_teacher(data_only)  # the data alone does not get it there
    assert history[-1]["distill_kl"] < history[0]["distill_kl"]
    for name, value in teacher.state_dict().items():
        assert torch.equal(value, teacher_state[name]), name
    assert not any(p.requires_grad for p in teacher.parameters()) and not teacher.training


def test_trainer_refuses_a_teacher_without_weight_and_a_weight_without_teacher():
    student = build_model(ModelConfig(**MODEL), seed=2)
    teacher = build_model(ModelConfig(**MODEL), seed=1)
    with pytest.raises(FastSNNError, match="distill_weight is 0, so it would be ignored"):
        Trainer(student, TrainConfig(), teacher=teacher)
    with pytest.raises(FastSNNError, match="needs a teacher"):
        Trainer(student, TrainConfig(distill_weight=0.5))
    with pytest.raises(FastSNNError, match="must be a torch.nn.Module"):
        Trainer(student, TrainConfig(distill_weight=0.5), teacher=lambda x: x)
    with pytest.raises(ValueError, match="distill_weight"):
        TrainConfig(distill_weight=1.5)
    other = build_model(ModelConfig(**{**MODEL, "vocab_size": 40}), seed=1)
    trainer = Trainer(student, TrainConfig(distill_weight=0.5, max_steps=1), teacher=other, callbacks=[lambda r: None])
    with pytest.raises(FastSNNError, match="the same vocabulary"):
        trainer.fit(batches(1))


def test_the_cross_entropy_matches_next_token_loss_when_distilling():
    teacher = build_model(ModelConfig(**MODEL), seed=1)
    student = build_model(ModelConfig(**MODEL), seed=2)
    ids = next(batches(1))
    with torch.no_grad():
        expected = float(F.cross_entropy(student(ids[:, :-1]).reshape(-1, 32), ids[:, 1:].reshape(-1)))
    cfg = TrainConfig(max_steps=1, lr=1e-3, distill_weight=0.5, log_every=1, spike_stats=False)
    history = Trainer(student, cfg, teacher=teacher, callbacks=[lambda r: None]).fit(iter([ids]))
    assert history[0]["loss"] == pytest.approx(expected, rel=1e-5)
