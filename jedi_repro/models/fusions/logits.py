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

    Args:
        in_dims: feature dim of each expert (unused).
        num_classes: classes of each expert's head.
    """

    needs_expert_logits = True

    def __init__(self, in_dims, num_classes):
        super().__init__()
        self.out_dim = int(sum(num_classes))

    def forward(self, feats, expert_logits=None):
        if expert_logits is None:
            raise ValueError('LogitsFusion needs the expert logits')
        return torch.cat(expert_logits, dim=1)
