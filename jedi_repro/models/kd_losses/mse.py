"""``mse``: mean squared error between student and teacher logits."""
from __future__ import annotations

import torch
from torch import nn

from jedi_repro.models.kd_losses.base import temperature_arg
from jedi_repro.registry import KD_LOSSES


def kd_mse(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """``mean_b sum_c (s - t)^2 / C``, i.e. the mean over all elements; teacher detached.

    Args:
        student: student logits ``[B, C]``.
        teacher: teacher logits ``[B, C]`` (detached here).
    """
    return (student - teacher.detach()).pow(2).mean()


@KD_LOSSES.register_module(name='mse')
class KDMSE(nn.Module):
    """Registered wrapper of :func:`kd_mse` (logits are compared raw: ``temperature`` is accepted so that
    studies can switch ``kd_loss.type`` without removing the key, and is unused).

    Args:
        temperature: unused.
    """

    def __init__(self, temperature: float = 1.0):
        super().__init__()
        self.temperature = temperature_arg(temperature)

    def forward(self, student, teacher, multilabel=False):
        return kd_mse(student, teacher)
