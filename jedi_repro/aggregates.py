"""One definition of every aggregate the project shows: which metric per dataset, which mean, which split.

Every place that chooses or shows "the mean" (the metric hook's ``mean/{role}/primary``, checkpoint
selection, the Optuna objectives, the MLflow parent run's ``best/...``, the console and the report) uses
these functions and names the aggregate with :func:`describe`, so the same question gets the same answer.

- A dataset's **primary metric** is what its manifest declares: ``mAP`` (declared, or multi-label), else
  ``top1``.
- ``mean/{role}/primary`` is the mean over datasets of each dataset's primary metric (the "mean" column of
  every report table). ``mean/{role}/top1`` etc. remain the plain means of one metric.
- Means over seeds and over datasets are ``math.fsum(values) / n``: exactly rounded, so the value does not
  depend on the order in which a caller holds the values (a worker's seeds, MLflow's keys).

Pure functions, no framework imports.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

PRIMARY = 'primary'
SPLIT_NAMES = {'val': 'validation', 'test': 'test'}


def primary_metric(declared: str | None = None, multilabel: bool = False) -> str:
    """The metric a dataset is judged on: ``mAP`` where declared (or multi-label), else ``top1``."""
    return 'mAP' if multilabel or declared == 'mAP' else 'top1'


#: decimals of every percent a person reads (console, report tables, MLflow descriptions)
PCT_DIGITS = 2


def pct(fraction: float, digits: int = PCT_DIGITS) -> str:
    """A metric fraction as people read it everywhere: percent with a fixed number of decimals
    (``0.81545`` -> ``'81.55'``). Machine files (metrics.json, CSV, MLflow metrics) keep the fraction."""
    return f'{100 * float(fraction):.{digits}f}'


def is_fraction_metric(key: str) -> bool:
    """Whether a metric key names an accuracy-like fraction shown in percent (top-k, mean class accuracy,
    mAP; MMAction2's ``acc/top1``, ``acc/mean1``), not a loss or a count."""
    name = key.rsplit('/', 1)[-1]
    return key.startswith('acc/') or name in ('top1', 'top5', 'mean_class', 'mAP', 'primary', 'mean1')


def mean(values: Iterable[float]) -> float:
    """Exactly rounded arithmetic mean (NaN for no values); the one mean over seeds and over datasets."""
    vals = [float(v) for v in values]
    return math.fsum(vals) / len(vals) if vals else float('nan')


def primary_mean(per_dataset: Mapping[str, Mapping[str, float]], metrics: Mapping[str, str]) -> float:
    """Mean over datasets of each dataset's primary metric.

    Args:
        per_dataset: ``{dataset: {metric: value}}`` of one role.
        metrics: ``{dataset: 'top1'|'mAP'}`` (:func:`primary_metric` of each dataset).

    Raises:
        KeyError: a dataset of ``metrics`` lacks its primary metric (a mean over fewer datasets would
            silently mean something else).
    """
    return mean(per_dataset[d][m] for d, m in metrics.items())


def metric_words(metrics: Mapping[str, str]) -> str:
    """``top-1; mAP for anet_like``: which metric each dataset contributes."""
    maps = [d for d, m in metrics.items() if m == 'mAP']
    if not maps:
        return 'top-1'
    if len(maps) == len(metrics):
        return 'mAP'
    return f'top-1; mAP for {", ".join(maps)}'


def describe(key: str, metrics: Mapping[str, str] | None = None, split: str | None = None) -> str:
    """A metric key in words, e.g. ``mean/student/primary`` -> "students' mean of each dataset's primary
    metric (top-1; mAP for anet_like), validation".

    Args:
        key: ``[split/]{dataset|mean}/{role}/{metric}``.
        metrics: ``{dataset: primary metric}``; without it the primary metric is named generically.
        split: ``val`` or ``test`` when ``key`` carries no split.
    """
    parts = key.split('/')
    if len(parts) == 4:
        split, parts = parts[0], parts[1:]
    if len(parts) != 3:  # not a metric key (an unnamed objective): shown as it is
        return key
    scope, role, name = parts
    which = f'({metric_words(metrics)})' if metrics else '(top-1, or mAP where the dataset declares it)'
    if scope == 'mean':
        what = (f"mean of each dataset's primary metric {which}" if name == PRIMARY
                else f'mean over datasets of {name}')
    else:
        what = f'{scope} {name}'
    text = f"{role}s' {what}"
    return text + (f', {SPLIT_NAMES.get(split, split)}' if split else '')


def best_index(values: list[float], direction: str = 'maximize') -> int | None:
    """Index of the best finite value (ties: the first), or None when there is none."""
    sign = 1.0 if direction == 'maximize' else -1.0
    best = None
    for i, v in enumerate(values):
        if v is None or not math.isfinite(v):
            continue
        if best is None or sign * v > sign * values[best]:
            best = i
    return best
