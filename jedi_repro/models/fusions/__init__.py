"""Fusions: how a teacher combines the n adjusted expert features (registry ``FUSIONS``).

A fusion is built with ``in_dims`` (adjusted feature dim per expert) and ``num_classes`` (classes of each
expert's own head), exposes ``out_dim`` and ``needs_expert_logits``, and maps
``(feats: list[Tensor [B, D_k]], expert_logits: list[Tensor [B, C_k]] | None) -> Tensor [B, out_dim]``.
One fusion module is shared by the n teachers (each teacher is dropout + its own linear layer on top).
Add one with ``@FUSIONS.register_module()`` in a new file: no edit inside the framework.
"""
from jedi_repro.models.fusions.attention import AttentionFusion
from jedi_repro.models.fusions.concat import ConcatFusion
from jedi_repro.models.fusions.logits import LogitsFusion
from jedi_repro.models.fusions.mean import MeanFusion

__all__ = ['ConcatFusion', 'MeanFusion', 'AttentionFusion', 'LogitsFusion']
