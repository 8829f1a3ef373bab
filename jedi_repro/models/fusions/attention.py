"""``attention``: a learned per-sample softmax weighting of the projected experts."""
from __future__ import annotations

import torch
from torch import nn

from jedi_repro.errors import JediError
from jedi_repro.registry import FUSIONS


@FUSIONS.register_module(name='attention')
class AttentionFusion(nn.Module):
    """Project each expert to ``proj_dim``; score each projection with a shared linear gate; the fused
    feature is the softmax(score)-weighted sum over experts, per sample.

    Args:
        in_dims: feature dim of each expert.
        num_classes: classes of each expert's head (unused).
        proj_dim: the common dim (default: the smallest expert dim).
    """

    needs_expert_logits = False

    def __init__(self, in_dims, num_classes=None, proj_dim=None):
        super().__init__()
        bad = isinstance(proj_dim, bool) or not isinstance(proj_dim, int) or proj_dim < 1
        if proj_dim is not None and bad:  # 0 would silently mean the default
            raise JediError(f'model.fusion.proj_dim={proj_dim!r} must be an integer >= 1, or None (the '
                            'smallest expert dim)')
        self.out_dim = int(proj_dim or min(in_dims))
        self.proj = nn.ModuleList(nn.Linear(d, self.out_dim) for d in in_dims)
        self.gate = nn.Linear(self.out_dim, 1)
        self.last_weights = None  # [B, n] of the latest forward, for inspection

    def forward(self, feats, expert_logits=None):
        z = torch.stack([p(f) for p, f in zip(self.proj, feats)], dim=1)  # [B, n, P]
        w = torch.softmax(self.gate(torch.tanh(z)).squeeze(-1), dim=1)  # [B, n]
        self.last_weights = w.detach()
        return (w.unsqueeze(-1) * z).sum(dim=1)
