"""``mean``: project each expert's features to a common dim, then average."""
from __future__ import annotations

import torch
from torch import nn

from jedi_repro.errors import JediError
from jedi_repro.registry import FUSIONS


@FUSIONS.register_module(name='mean')
class MeanFusion(nn.Module):
    """Average of per-expert linear projections to ``proj_dim`` (handles experts of different dims).

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

    def forward(self, feats, expert_logits=None):
        return torch.stack([p(f) for p, f in zip(self.proj, feats)], dim=0).mean(dim=0)
