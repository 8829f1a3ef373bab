"""Small constructed feature stores for tests, examples and benchmarks (public API).

``make_toy_store(path)`` writes a valid feature store in well under a second. The features are built so
that JEDI has something to learn:

* every dataset ``i`` has random unit-norm class prototypes ``mu[i, c]`` in a latent space;
* expert ``k`` sees a sample of dataset ``i`` with label ``y`` as ``A_k @ mu[i, y] * s + noise``, where
  ``A_k`` is the expert's own random projection, ``s`` is ``own_signal`` for its own dataset and
  ``cross_signal`` for the others, and the noise is independent per expert: each expert holds a separate
  noisy view, so the other experts carry information about dataset ``i`` that expert ``i`` lacks and a
  teacher that fuses all views can beat every single expert;
* expert ``k``'s head is the matched-filter classifier ``A_k @ mu[i, c]`` plus ``head_noise`` (an
  imperfect head, as if trained on a shifted domain), so a student fine-tuned on labels can beat it.

Multi-label datasets (``multilabel=('name', ...)``) draw 1-2 positive classes per sample; their latent
is the sum of the positives' prototypes.

Example:
    >>> from jedi_repro.data.toy import make_toy_store
    >>> store = make_toy_store(tmp_path / 'toy', n_datasets=3, n_classes=5, dim=16, seed=0)
    >>> store.dataset_names
    ['ds0', 'ds1', 'ds2']
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from jedi_repro.data.feature_store import FeatureStore, FeatureStoreWriter


def make_toy_store(path, n_datasets: int = 3, n_classes=5, dim=16, n_train: int = 200, n_val: int = 60,
                   n_test: int | None = 60, latent_dim: int = 16, own_signal: float = 1.0,
                   cross_signal: float = 1.0, noise: float = 0.6, head_noise: float = 0.3,
                   dtype: str = 'float32', multilabel=(), map_datasets=(), labeled_fraction: float = 1.0,
                   seed: int = 0, overwrite: bool = False, chunk: int = 65536,
                   shuffle_test_labels: bool = False) -> FeatureStore:
    """Write a constructed feature store with ``n_datasets`` datasets and one expert per dataset.

    Args:
        path: directory of the new store.
        n_datasets: number of datasets (and experts; expert ``e{i}`` is trained on ``ds{i}``).
        n_classes: classes per dataset, an int or one int per dataset.
        dim: feature dim per expert, an int or one int per expert.
        n_train, n_val, n_test: samples per split and dataset (``n_test=None``: no test split).
        latent_dim: dim of the class prototypes.
        own_signal, cross_signal: signal strength an expert sees on its own / on other datasets.
        noise: std of the per-expert feature noise.
        head_noise: std of the perturbation of each expert head (0: matched filter).
        dtype: ``float16`` or ``float32`` features on disk.
        multilabel: names of datasets that get multi-hot labels (``metric='mAP'``).
        map_datasets: names of single-label datasets that declare ``metric='mAP'``.
        labeled_fraction: fraction of train samples marked labelled in the store's mask.
        seed: everything is a function of the seed.
        overwrite: replace an existing store.
        chunk: samples generated at a time (bounds memory for large benchmark stores).
        shuffle_test_labels: permute the test labels after the features are drawn, so the test split
            carries no signal (every role at chance on test, validation unchanged): a store on which
            anything chosen on test would show.

    Returns:
        The opened :class:`FeatureStore`.
    """
    rng = np.random.default_rng(seed)
    n = n_datasets
    ncls = [n_classes] * n if np.isscalar(n_classes) else list(n_classes)
    dims = [dim] * n if np.isscalar(dim) else list(dim)
    names = [f'ds{i}' for i in range(n)]
    protos = []
    for i in range(n):
        p = rng.standard_normal((ncls[i], latent_dim))
        protos.append(p / np.linalg.norm(p, axis=1, keepdims=True) * np.sqrt(latent_dim) / 2)
    proj = [rng.standard_normal((dims[k], latent_dim)) / np.sqrt(latent_dim) for k in range(n)]
    splits = {'train': n_train, 'val': n_val}
    if n_test:
        splits['test'] = n_test
    with FeatureStoreWriter(Path(path), overwrite=overwrite) as w:
        for i in range(n):
            ml = names[i] in multilabel
            metric = 'mAP' if ml or names[i] in map_datasets else 'top1'
            w.add_dataset(names[i], [f'c{c}' for c in range(ncls[i])], metric=metric, multilabel=ml)
        for k in range(n):
            hw = protos[k] @ proj[k].T * own_signal + head_noise * rng.standard_normal((ncls[k], dims[k]))
            w.add_expert(f'e{k}', dataset=names[k], dim=dims[k], head_weight=hw, head_bias=np.zeros(ncls[k]),
                         config='toy')
        for i in range(n):
            ml = names[i] in multilabel
            for split, m in splits.items():
                if ml:
                    y = np.zeros((m, ncls[i]), dtype=np.uint8)
                    y[np.arange(m), rng.integers(0, ncls[i], m)] = 1
                    second = rng.random(m) < 0.3
                    y[np.flatnonzero(second), rng.integers(0, ncls[i], int(second.sum()))] = 1
                    latent = y.astype(np.float64) @ protos[i]
                else:
                    y = rng.integers(0, ncls[i], m)
                    latent = protos[i][y]
                w.add_labels(names[i], split, rng.permutation(y) if split == 'test' and shuffle_test_labels
                             else y)
                for k in range(n):
                    s = own_signal if k == i else cross_signal
                    x = np.empty((m, dims[k]), dtype=dtype)
                    for a in range(0, m, chunk):
                        lat = latent[a:a + chunk]
                        x[a:a + chunk] = (lat @ proj[k].T * s
                                          + noise * rng.standard_normal((len(lat), dims[k]))).astype(dtype)
                    w.add_features(f'e{k}', names[i], split, x)
            if labeled_fraction < 1.0:
                mask = np.zeros(n_train, dtype=bool)
                mask[rng.permutation(n_train)[:max(1, int(round(labeled_fraction * n_train)))]] = True
                w.set_labeled_mask(names[i], mask)
    return FeatureStore.open(path)
