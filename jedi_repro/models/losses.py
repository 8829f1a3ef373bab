"""The JEDI objective: 3n named, weighted terms (see DESIGN.md, "The method").

    L = alpha * sum_i SUP(S_i, y) on labelled D_i                   ``loss_student_{name_i}``
      + beta  * sum_i SUP(T_i, y) on labelled D_i                   ``loss_teacher_{name_i}``
      + gamma * sum_i sum_j KD(S_i <- T_i) on unlabelled samples of D_j  ``loss_kd_{name_i}``

SUP is cross-entropy for single-label datasets and, for multi-label ones, binary cross-entropy with
logits summed over classes and averaged over samples. KD detaches the teacher. The pool batch holds
train samples of every dataset that feeds it (labels unused), grouped by dataset; how the KD term
reduces over it is ``kd_reduction``:

* ``dataset_sum`` (the paper's wording, "summed over j like the other terms"): the mean over the pool
  rows of each D_j, summed over j. gamma weighs every dataset's samples alike, and the KD term grows
  with the number of datasets as the supervised terms do.
* ``pool_mean``: one mean over the whole pool batch. For n pooled datasets in equal shares this is
  ``dataset_sum / n``: the same gamma weighs n times less, and with a proportional pool mix the large
  datasets get most of it.

``kd_pool`` chooses the rows first (``all``: every D_j, the paper; ``own``: D_i only; ``others``: every
D_j but D_i); the reduction then applies to the chosen rows (:mod:`jedi_repro.models.kd_pool`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from jedi_repro.models.kd_pool import pool_selection


def supervised_loss(logits: torch.Tensor, labels: torch.Tensor, multilabel: bool = False) -> torch.Tensor:
    """Cross-entropy (single-label, int labels ``[B]``) or BCE summed over classes (multi-hot ``[B, C]``)."""
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, labels.float(), reduction='none').sum(dim=1).mean()
    return F.cross_entropy(logits, labels)


KD_REDUCTIONS = ('dataset_sum', 'pool_mean')


def reduce_kd(kd_loss: Callable, student: torch.Tensor, teacher: torch.Tensor, *, multilabel: bool,
              pool_sizes: Sequence[int] | None, reduction: str) -> torch.Tensor:
    """One student's KD term over a pool batch whose rows are grouped by dataset.

    Args:
        kd_loss: ``kd_loss(student, teacher, multilabel=...)``, a mean over the rows it gets.
        student, teacher: logits on the pool batch ``[B_u, C]``.
        multilabel: whether the student's dataset is multi-label.
        pool_sizes: rows of each dataset, in order (``None``: one group).
        reduction: ``dataset_sum`` (mean per dataset, summed) or ``pool_mean`` (one mean).
    """
    if reduction not in KD_REDUCTIONS:
        raise ValueError(f'kd reduction {reduction!r}; allowed: {KD_REDUCTIONS}')
    if reduction == 'pool_mean' or pool_sizes is None:
        return kd_loss(student, teacher, multilabel=multilabel)
    terms, start = [], 0
    for size in pool_sizes:
        if size:
            rows = slice(start, start + size)
            terms.append(kd_loss(student[rows], teacher[rows], multilabel=multilabel))
        start += size
    return torch.stack(terms).sum()


def jedi_loss(sup_student: Sequence[torch.Tensor], sup_teacher: Sequence[torch.Tensor] | None,
              sup_labels: Sequence[torch.Tensor], kd_student: Sequence[torch.Tensor] | None,
              kd_teacher: Sequence[torch.Tensor] | None, *, names: Sequence[str],
              multilabel: Sequence[bool], alpha: float, beta: float, gamma: float,
              kd_loss: Callable | None, pool_sizes: Sequence[int] | None = None,
              kd_reduction: str = 'dataset_sum', kd_pool: str = 'all') -> dict[str, torch.Tensor]:
    """The 3n named terms of the JEDI loss (their sum is the objective).

    Args:
        sup_student: per dataset i, student i's logits on labelled samples of D_i ``[B_i, C_i]``.
        sup_teacher: per dataset i, teacher i's logits on the same samples; ``None``: teachers off
            (the plain fine-tuning baseline: teacher and KD terms are constant zeros, no gradient).
        sup_labels: per dataset i, labels ``[B_i]`` or multi-hot ``[B_i, C_i]``.
        kd_student, kd_teacher: per dataset i, student i's / teacher i's logits on the pool batch
            ``[B_u, C_i]``; ``None`` (or ``gamma == 0`` or an empty pool): KD terms are constant zeros.
        names: dataset names (term keys).
        multilabel: per dataset, whether it is multi-label.
        alpha, beta, gamma: weights of the student, teacher and KD terms.
        kd_loss: ``kd_loss(student, teacher, multilabel=...)``, e.g. a ``KD_LOSSES`` component.
        pool_sizes: pool rows of each dataset, in order (the pool batch is grouped by dataset);
            ``None``: the pool is one group.
        kd_reduction: ``dataset_sum`` or ``pool_mean`` (module docstring).
        kd_pool: which datasets' pool rows student i distils on: ``all`` (every D_j), ``own`` (D_i) or
            ``others`` (every D_j, j != i); see :mod:`jedi_repro.models.kd_pool`. Not ``all`` needs
            ``pool_sizes``.

    Returns:
        ``{'loss_student_{name}', 'loss_teacher_{name}', 'loss_kd_{name}'}`` for every dataset, each
        already weighted.
    """
    if kd_pool != 'all' and pool_sizes is None:
        raise ValueError(f'kd_pool={kd_pool!r} needs pool_sizes (the pool batch grouped by dataset)')
    out = {}
    zero = sup_student[0].new_zeros(())
    for i, name in enumerate(names):
        ml = bool(multilabel[i])
        out[f'loss_student_{name}'] = alpha * supervised_loss(sup_student[i], sup_labels[i], ml)
        if sup_teacher is not None:
            out[f'loss_teacher_{name}'] = beta * supervised_loss(sup_teacher[i], sup_labels[i], ml)
        else:
            out[f'loss_teacher_{name}'] = zero
        kd_s, kd_t, sizes = (None, None, pool_sizes) if kd_student is None or kd_teacher is None else \
            (kd_student[i], kd_teacher[i], pool_sizes)
        if kd_s is not None and kd_pool != 'all':
            rows, sizes = pool_selection(pool_sizes, i, kd_pool)
            rows = torch.from_numpy(rows).to(kd_s.device)
            kd_s, kd_t = kd_s.index_select(0, rows), kd_t.index_select(0, rows)
        if kd_s is not None and gamma != 0 and kd_s.shape[0] > 0:
            out[f'loss_kd_{name}'] = gamma * reduce_kd(kd_loss, kd_s, kd_t, multilabel=ml,
                                                       pool_sizes=sizes, reduction=kd_reduction)
        else:
            out[f'loss_kd_{name}'] = zero
    return out
