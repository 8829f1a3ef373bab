"""Which pool samples student i distils on: ``model.kd_pool`` = ``all`` | ``own`` | ``others``.

The pool batch holds train samples of every pooled dataset (labels unused), grouped by dataset
(``pool_sizes[j]`` rows of D_j, in dataset order). ``all`` is the paper's reading: student i distils on
the pool samples of every D_j. ``own`` keeps only D_i's rows (where student i's classes apply), ``others``
only the other datasets' rows (where they do not). The selection is a set of row groups, so
``kd_reduction`` (a mean per dataset summed, or one mean) applies to it unchanged.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jedi_repro.errors import JediError

KD_POOLS = ('all', 'own', 'others')


def check_kd_pool(kd_pool: str) -> None:
    """Refuse an unknown ``model.kd_pool`` value, naming the key."""
    if kd_pool not in KD_POOLS:
        raise JediError(f'model.kd_pool={kd_pool!r}; allowed: {KD_POOLS}')


def selected_datasets(kd_pool: str, i: int, n: int) -> list[int]:
    """Indices of the datasets whose pool rows student ``i`` (of ``n``) distils on."""
    check_kd_pool(kd_pool)
    if kd_pool == 'all':
        return list(range(n))
    if kd_pool == 'own':
        return [i]
    return [j for j in range(n) if j != i]


def pool_selection(pool_sizes: Sequence[int], i: int, kd_pool: str) -> tuple[np.ndarray, list[int]]:
    """The pool rows student ``i`` distils on, and the per-dataset sizes of that selection.

    Args:
        pool_sizes: rows of each dataset in the pool batch, in dataset order (the batch is grouped).
        i: the student's dataset index.
        kd_pool: ``all`` | ``own`` | ``others``.

    Returns:
        ``(rows, sizes)``: int64 row indices into the pool batch (in order, so still grouped by dataset)
        and ``sizes[j]`` = ``pool_sizes[j]`` for a selected dataset, 0 otherwise.
    """
    keep = set(selected_datasets(kd_pool, i, len(pool_sizes)))
    starts = np.concatenate([[0], np.cumsum(pool_sizes)]).astype(np.int64)
    sizes = [int(s) if j in keep else 0 for j, s in enumerate(pool_sizes)]
    rows = [np.arange(starts[j], starts[j + 1]) for j in range(len(pool_sizes)) if j in keep]
    return (np.concatenate(rows) if rows else np.zeros(0, np.int64)).astype(np.int64), sizes


def check_pool_covers_students(kd_pool: str, dataset_names: Sequence[str], pooled: Sequence[str] | None,
                               unlabeled_batch_size: int) -> None:
    """Refuse a ``kd_pool`` that leaves some student no pool samples at all (its KD term would be 0).

    Args:
        kd_pool: the model's ``kd_pool``.
        dataset_names: the store's datasets, in order.
        pooled: ``data.unlabeled_datasets`` (``None``: every dataset).
        unlabeled_batch_size: ``data.unlabeled_batch_size``.

    Raises:
        JediError: naming ``model.kd_pool``, the student(s) left without samples and the data keys.
    """
    check_kd_pool(kd_pool)
    if kd_pool == 'all':
        return  # the paper's reading: unchanged behaviour, whatever the pool
    if pooled is None:
        pooled = list(dataset_names)
    pooled = [pooled] if isinstance(pooled, str) else list(pooled)
    if int(unlabeled_batch_size) == 0:
        raise JediError(f'model.kd_pool={kd_pool!r} with data.unlabeled_batch_size=0: there is no pool to '
                        'distil on; set a pool batch size or model.gamma=0')
    n = len(dataset_names)
    empty = [name for i, name in enumerate(dataset_names)
             if not any(dataset_names[j] in pooled for j in selected_datasets(kd_pool, i, n))]
    if empty:
        raise JediError(f'model.kd_pool={kd_pool!r} leaves student(s) {empty} no pool samples '
                        f'(data.unlabeled_datasets={pooled}): their KD term would be zero. Pool their '
                        f'{"own" if kd_pool == "own" else "other"} dataset(s), or use model.kd_pool=all')
