"""Build a feature store from plain ``.npz`` arrays (``jedi features import-npz``).

See :mod:`jedi_repro.cli.features` for the file layout. ``.npz`` files are opened with
``allow_pickle=False``: object arrays are refused, never unpickled.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from jedi_repro.data.feature_store import SPLITS, FeatureStore, FeatureStoreError, FeatureStoreWriter


def _load_npz(path: str, what: str):
    p = Path(path)
    if not p.is_file():
        raise FeatureStoreError(f'{what} file {p} does not exist')
    if not zipfile.is_zipfile(p):  # np.load would call any other file "pickled data"
        raise FeatureStoreError(f'{what} file {p} is not a .npz archive (not a zip file); write it with '
                                'numpy.savez or numpy.savez_compressed')
    try:
        return np.load(p, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise FeatureStoreError(f'{what} file {p} is not a readable .npz: {exc}') from None


def _get(npz, key: str, path: str):
    try:
        return npz[key]
    except KeyError:
        raise FeatureStoreError(f'{path} has no array {key!r} (it has {sorted(npz.files)})') from None
    except ValueError as exc:  # object arrays need pickle, which is refused
        raise FeatureStoreError(f'{path}: array {key!r} cannot be read without pickle ({exc})') from None


def import_npz(out, datasets, experts, metrics=None, overwrite: bool = False) -> FeatureStore:
    """Write a feature store from ``.npz`` files.

    Args:
        out: store directory to create.
        datasets: ``[(name, DATA.npz path), ...]`` in store order.
        experts: ``[(name, own dataset, HEAD.npz path), ...]`` in store order.
        metrics: optional ``{dataset: 'top1'|'mAP'}``; multi-label datasets default to ``mAP``.
        overwrite: replace an existing store.

    Returns:
        The opened store.

    Raises:
        FeatureStoreError: naming the file and array at fault.
    """
    metrics = dict(metrics or {})
    ds_names = [d for d, _ in datasets]
    for d in metrics:
        if d not in ds_names:
            raise FeatureStoreError(f'--metric names dataset {d!r}, which is not among --dataset {ds_names}')
    data = {name: (path, _load_npz(path, f'dataset {name!r}')) for name, path in datasets}
    with FeatureStoreWriter(out, overwrite=overwrite) as w:
        for name, (path, npz) in data.items():
            y_train = _get(npz, 'y_train', path)
            multilabel = y_train.ndim == 2
            if 'class_names' in npz.files:
                classes = [str(c) for c in _get(npz, 'class_names', path)]
            elif multilabel:
                classes = [str(c) for c in range(y_train.shape[1])]
            else:
                ys = [_get(npz, f'y_{s}', path) for s in SPLITS if f'y_{s}' in npz.files]
                for s, y in zip([s for s in SPLITS if f'y_{s}' in npz.files], ys):
                    if y.size == 0:
                        raise FeatureStoreError(f'{path}: y_{s} of dataset {name!r} has 0 rows; every split '
                                                'needs samples (leave out y_test and its features instead)')
                classes = [str(c) for c in range(int(max(int(y.max()) for y in ys)) + 1)]
            w.add_dataset(name, classes, metric=metrics.get(name, 'mAP' if multilabel else 'top1'),
                          multilabel=multilabel)
        for name, ds, head_path in experts:
            if ds not in data:
                raise FeatureStoreError(f'expert {name!r}: dataset {ds!r} is not among --dataset {ds_names}')
            head = _load_npz(head_path, f'head of expert {name!r}')
            weight, bias = _get(head, 'weight', head_path), _get(head, 'bias', head_path)
            if weight.ndim != 2:
                raise FeatureStoreError(f'{head_path}: weight must be [C, D], got shape {list(weight.shape)}')
            w.add_expert(name, dataset=ds, dim=int(weight.shape[1]), head_weight=weight, head_bias=bias)
        for name, (path, npz) in data.items():
            for split in SPLITS:
                key = f'y_{split}'
                if key not in npz.files:
                    if split == 'test':
                        continue
                    raise FeatureStoreError(f'{path} has no array {key!r} (it has {sorted(npz.files)})')
                w.add_labels(name, split, _get(npz, key, path))
                for ex, _, _ in experts:
                    w.add_features(ex, name, split, _get(npz, f'feat__{ex}__{split}', path))
            if 'labeled_train' in npz.files:
                w.set_labeled_mask(name, _get(npz, 'labeled_train', path))
            extra = set(npz.files) - {'class_names', 'labeled_train'} - {f'y_{s}' for s in SPLITS} - {
                f'feat__{ex}__{s}' for ex, _, _ in experts for s in SPLITS}
            if extra:
                raise FeatureStoreError(f'{path}: unexpected arrays {sorted(extra)} (expected y_*, '
                                        f'class_names, '
                                        'labeled_train and feat__EXPERT__SPLIT for the given --expert names)')
    return FeatureStore.open(out)
