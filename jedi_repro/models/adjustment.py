"""The adjustment module of a student: a residual two-layer MLP that starts as the identity."""
from __future__ import annotations

import torch
from torch import nn


class AdjustmentModule(nn.Module):
    """``A(f) = f + W2 relu(W1 f + b1) + b2`` with ``W2 = 0, b2 = 0`` at init, so ``A(f) == f`` exactly
    before training and student i starts as expert i (DESIGN.md).

    Args:
        dim: feature dim (input = output).
        hidden_dim: width of the hidden layer (default ``dim``).
    """

    def __init__(self, dim: int, hidden_dim: int | None = None):
        super().__init__()
        self.fc1 = nn.Linear(dim, int(hidden_dim or dim))
        self.fc2 = nn.Linear(int(hidden_dim or dim), dim)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(torch.relu(self.fc1(x)))
