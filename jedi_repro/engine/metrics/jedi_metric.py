"""``JEDIMetric``: top-1, top-5, mean class accuracy (and mAP) per dataset for expert, student, teacher.

Keys: ``{dataset}/{role}/{metric}`` and ``mean/{role}/{metric}`` (the mean over datasets; ``mAP`` over the
datasets that have it), role in expert/student/teacher, metric in top1/top5/mean_class/mAP, fractions in
[0, 1]; plus ``mean/{role}/primary``, the mean of each dataset's primary metric (top-1, or mAP where the
dataset declares it: ``jedi_repro.aggregates``), what checkpoints, trials and reports are judged on.

Single-label: top-k = label among the k highest scores (k = min(5, C) for top5); mean_class = mean over
classes present of the per-class top-1 accuracy; mAP (datasets declaring ``metric: mAP``) = mean over
classes present of the average precision of one-vs-rest softmax scores.
Multi-label: top-k = at least one positive label among the k highest scores (hit@k); mean_class = mean
over classes of hit@1 among the samples having that class; mAP = mean over classes with a positive of
the average precision of the class scores.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from jedi_repro import aggregates
from jedi_repro.registry import METRICS

ROLES = ('expert', 'student', 'teacher')
METRIC_NAMES = ('top1', 'top5', 'mean_class', 'mAP', aggregates.PRIMARY)


def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """Average precision of one class: mean of the precision at each positive's rank (ties by order)."""
    order = np.argsort(-scores, kind='stable')
    pos = positives[order].astype(bool)
    if not pos.any():
        return float('nan')
    hits = np.cumsum(pos)
    return float((hits[pos] / (np.flatnonzero(pos) + 1)).mean())


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """Mean AP over the classes with at least one positive (``targets`` multi-hot ``[N, C]``)."""
    aps = [average_precision(scores[:, c], targets[:, c])
           for c in range(scores.shape[1]) if targets[:, c].any()]
    return float(np.mean(aps)) if aps else float('nan')


def classification_metrics(scores: np.ndarray, labels: np.ndarray, multilabel: bool = False,
                           with_map: bool = False) -> dict[str, float]:
    """top1, top5, mean_class (and mAP) of ``scores [N, C]`` against int ``[N]`` or multi-hot ``[N, C]``."""
    n, c = scores.shape
    k = min(5, c)
    topk = np.argsort(-scores, axis=1, kind='stable')[:, :k]
    if multilabel:
        targets = labels.astype(bool)
        hits = np.take_along_axis(targets, topk, axis=1)
        top1, top5 = hits[:, 0], hits.any(axis=1)
        per_class = [top1[targets[:, j]].mean() for j in range(c) if targets[:, j].any()]
    else:
        targets = np.zeros((n, c), dtype=bool)
        targets[np.arange(n), labels] = True
        top1 = topk[:, 0] == labels
        top5 = (topk == labels[:, None]).any(axis=1)
        per_class = [top1[labels == j].mean() for j in range(c) if (labels == j).any()]
    out = dict(top1=float(top1.mean()), top5=float(top5.mean()), mean_class=float(np.mean(per_class)))
    if multilabel or with_map:
        out['mAP'] = mean_average_precision(scores, targets)
    return out


@METRICS.register_module()
class JEDIMetric(BaseMetric):
    """Per-dataset, per-role classification metrics of ``JEDIModel`` predictions.

    Args:
        collect_device: how mmengine gathers the ranks' results in a distributed run. ``'gpu'`` (default)
            is ``all_gather_object`` over the process group, which also works with gloo on CPU;
            mmengine's ``'cpu'`` exchanges pickles through ``./.dist_test`` in the working directory,
            which needs a directory every node shares and leaves that directory behind.
        prefix: optional key prefix (``None``: keys as in the module docstring).
        roles: the roles to score (default all; ``train()`` leaves out untrained teachers,
            ``jedi_repro/engine/untrained.py``).
    """

    default_prefix = None

    def __init__(self, collect_device: str = 'gpu', prefix: str | None = None, roles=ROLES):
        super().__init__(collect_device=collect_device, prefix=prefix)
        unknown = set(roles) - set(ROLES)
        if unknown:
            raise ValueError(f'JEDIMetric: unknown roles {sorted(unknown)}; choose from {ROLES}')
        self.roles = tuple(r for r in ROLES if r in roles)

    def process(self, data_batch, data_samples) -> None:
        for out in data_samples:
            self.results.append(dict(
                dataset=out['dataset'], multilabel=bool(out['multilabel']), use_map=bool(out['use_map']),
                labels=_np(out['labels']), **{r: _np(out[r]).astype(np.float32) for r in self.roles}))

    def compute_metrics(self, results: list) -> dict:
        grouped: OrderedDict[str, list] = OrderedDict()
        for r in results:
            grouped.setdefault(r['dataset'], []).append(r)
        metrics: dict[str, float] = {}
        per_role: dict[str, dict[str, list]] = {r: {} for r in self.roles}
        primary = {ds: aggregates.primary_metric('mAP' if rs[0]['use_map'] else 'top1', rs[0]['multilabel'])
                   for ds, rs in grouped.items()}
        for ds, rs in grouped.items():
            labels = np.concatenate([r['labels'] for r in rs])
            for role in self.roles:
                scores = np.concatenate([r[role] for r in rs])
                m = classification_metrics(scores, labels, rs[0]['multilabel'], rs[0]['use_map'])
                for name, v in m.items():
                    metrics[f'{ds}/{role}/{name}'] = v
                    per_role[role].setdefault(name, []).append(v)
        for role in self.roles:
            for name, vs in per_role[role].items():
                metrics[f'mean/{role}/{name}'] = aggregates.mean(vs)
            metrics[f'mean/{role}/{aggregates.PRIMARY}'] = aggregates.primary_mean(
                {ds: {m: metrics[f'{ds}/{role}/{m}']} for ds, m in primary.items()}, primary)
        return metrics


def _np(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
