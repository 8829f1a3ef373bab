"""``concat``: the paper's fusion, the concatenation of all adjusted expert features."""
from __future__ import annotations

import torch
from torch import nn

from jedi_repro.registry import FUSIONS


@FUSIONS.register_module(name='concat')
class ConcatFusion(nn.Module):
    """Concatenate the adjusted features of all experts (parameter-free).

    Args:
        in_dims: feature dim of each expert.
        num_classes: classes of each expert's head (unused).
    """

    needs_expert_logits = False

    def __init__(self, in_dims, num_classes=None):
        super().__init__()
        self.out_dim = int(sum(in_dims))

    def forward(self, feats, expert_logits=None):
        return torch.cat(feats, dim=1)
