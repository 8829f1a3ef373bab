"""``ce``: the paper's KD loss, cross-entropy against the teacher's softened prediction, times tau^2."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jedi_repro.models.kd_losses.base import temperature_arg
from jedi_repro.registry import KD_LOSSES


def kd_cross_entropy(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0,
                     multilabel: bool = False) -> torch.Tensor:
    """``tau^2 * mean_b CE(softmax(t / tau), log_softmax(s / tau))`` with the teacher detached.

    The tau^2 factor (Hinton et al.) keeps the gradient scale independent of the temperature.

    Args:
        student: student logits ``[B, C]``.
        teacher: teacher logits ``[B, C]`` (detached here).
        temperature: softening temperature tau.
        multilabel: per-class sigmoids instead of a softmax (binary CE summed over classes).
    """
    t = teacher.detach() / temperature
    s = student / temperature
    if multilabel:
        per = F.binary_cross_entropy_with_logits(s, torch.sigmoid(t), reduction='none').sum(dim=1)
    else:
        per = -(torch.softmax(t, dim=1) * torch.log_softmax(s, dim=1)).sum(dim=1)
    return per.mean() * temperature ** 2


@KD_LOSSES.register_module(name='ce')
class KDCrossEntropy(nn.Module):
    """Registered wrapper of :func:`kd_cross_entropy`.

    Args:
        temperature: softening temperature tau.
    """

    def __init__(self, temperature: float = 2.0):
        super().__init__()
        self.temperature = temperature_arg(temperature)

    def forward(self, student, teacher, multilabel=False):
        return kd_cross_entropy(student, teacher, self.temperature, multilabel)
