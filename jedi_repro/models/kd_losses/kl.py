"""``kl``: KL(teacher || student) of the softened predictions, times tau^2."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jedi_repro.models.kd_losses.base import temperature_arg
from jedi_repro.registry import KD_LOSSES


def kd_kl_divergence(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0,
                     multilabel: bool = False) -> torch.Tensor:
    """``tau^2 * mean_b KL(p_t || p_s)`` at temperature tau, teacher detached.

    Differs from ``ce`` by the teacher's entropy, a constant for the student: same gradient, other value.

    Args:
        student: student logits ``[B, C]``.
        teacher: teacher logits ``[B, C]`` (detached here).
        temperature: softening temperature tau.
        multilabel: per-class Bernoulli KL summed over classes.
    """
    t = teacher.detach() / temperature
    s = student / temperature
    if multilabel:
        pt = torch.sigmoid(t)
        per = (pt * (F.logsigmoid(t) - F.logsigmoid(s))
               + (1 - pt) * (F.logsigmoid(-t) - F.logsigmoid(-s))).sum(dim=1)
    else:
        lt = torch.log_softmax(t, dim=1)
        per = (lt.exp() * (lt - torch.log_softmax(s, dim=1))).sum(dim=1)
    return per.mean() * temperature ** 2


@KD_LOSSES.register_module(name='kl')
class KDKLDivergence(nn.Module):
    """Registered wrapper of :func:`kd_kl_divergence`.

    Args:
        temperature: softening temperature tau.
    """

    def __init__(self, temperature: float = 2.0):
        super().__init__()
        self.temperature = temperature_arg(temperature)

    def forward(self, student, teacher, multilabel=False):
        return kd_kl_divergence(student, teacher, self.temperature, multilabel)
