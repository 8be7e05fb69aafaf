"""Knowledge distillation: train a student on a teacher's next-token distributions as well as the data.

The objective of a step (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural
Network") is ::

    (1 − α) · CE(student, next tokens) + α · τ² · KL( softmax(z_teacher / τ) ‖ softmax(z_student / τ) )

with ``α = train.distill_weight`` and ``τ = train.distill_temperature``; the τ² keeps the gradient
scale of the soft term independent of τ. The teacher runs without gradients in eval mode. This is
how a converted model (a softmax LM turned into a hybrid spiking one) is best recovered: every
position gives the whole distribution of the model it came from, not one target id.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from fastsnn.errors import FastSNNError


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``τ² · KL(p_teacher ‖ p_student)`` at temperature ``τ``, averaged over positions (nats).

    :param student_logits: ``[..., V]`` (gradients flow into these).
    :param teacher_logits: ``[..., V]``, the same shape (detached here).
    :param temperature: ``τ > 0``.
    :raises FastSNNError: shapes that differ, or ``τ ≤ 0``.
    """
    if student_logits.shape != teacher_logits.shape:
        raise FastSNNError(f"distillation needs the teacher's logits in the student's shape: student "
                           f"{tuple(student_logits.shape)}, teacher {tuple(teacher_logits.shape)} (the same vocabulary?)")
    if not temperature > 0:
        raise FastSNNError(f"the distillation temperature must be positive, got {temperature}")
    log_student = F.log_softmax(student_logits.float() / temperature, dim=-1)
    log_teacher = F.log_softmax(teacher_logits.detach().float() / temperature, dim=-1)
    kl = F.kl_div(log_student.reshape(-1, log_student.shape[-1]), log_teacher.reshape(-1, log_teacher.shape[-1]),
                  log_target=True, reduction="batchmean")
    return kl * temperature**2


def check_teacher(teacher: nn.Module | None, weight: float) -> nn.Module | None:
    """The teacher a Trainer distils from, frozen and in eval mode (None when there is none).

    :raises FastSNNError: a teacher with ``distill_weight = 0`` (it would be ignored), a weight > 0
        without a teacher, or a teacher that is not an ``nn.Module``.
    """
    if teacher is None:
        if weight > 0:
            raise FastSNNError(f"train.distill_weight = {weight} needs a teacher: Trainer(model, config, teacher=...)")
        return None
    if not isinstance(teacher, nn.Module):
        raise FastSNNError(f"the teacher must be a torch.nn.Module, got {type(teacher).__name__}")
    if weight <= 0:
        raise FastSNNError("a teacher was given but train.distill_weight is 0, so it would be ignored; set "
                           "distill_weight in (0, 1] (e.g. 0.5)")
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher.eval()
