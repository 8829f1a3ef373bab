"""``logits``: teachers see only the experts' predictions (late fusion)."""
from __future__ import annotations

import torch
from torch import nn

from jedi_repro.registry import FUSIONS


@FUSIONS.register_module(name='logits')
class LogitsFusion(nn.Module):
    """Concatenate the logits of the frozen expert heads applied to the raw expert features.

    The teachers then see exactly what the experts predict and nothing of their features, so the adjusted
    features do not reach the teachers (the adjustment modules are trained by the student terms alone).
    Teacher i starts as expert i (:meth:`init_teacher`): with a random start, a linear layer on logits of
    scale ~10 needs weights of ~1, far beyond what a few hundred Adam steps at lr 1e-3 move, and such
    teachers stayed 40 points below their experts on YouTube-8M.

    Args:
        in_dims: feature dim of each expert (unused).
        num_classes: classes of each expert's head.
    """

    needs_expert_logits = True

    def __init__(self, in_dims, num_classes):
        super().__init__()
        self.num_classes = [int(c) for c in num_classes]
        self.out_dim = int(sum(self.num_classes))

    def init_teacher(self, linear: nn.Linear, expert: int) -> None:
        """Make ``linear`` pass expert ``expert``'s logits through and ignore the other experts."""
        start, n = sum(self.num_classes[:expert]), self.num_classes[expert]
        if linear.out_features != n:
            raise ValueError(f'teacher has {linear.out_features} classes, expert {expert} has {n}')
        with torch.no_grad():
            linear.weight.zero_()
            linear.bias.zero_()
            linear.weight[:, start:start + n] = torch.eye(n)

    def forward(self, feats, expert_logits=None):
        if expert_logits is None:
            raise ValueError('LogitsFusion needs the expert logits')
        return torch.cat(expert_logits, dim=1)
