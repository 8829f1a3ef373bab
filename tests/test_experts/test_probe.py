"""Linear probes that measure whether the other experts add to the own expert (``probe_complementarity``)."""
import numpy as np
import pytest

from jedi_repro.data.toy import make_toy_store
from jedi_repro.experts.pipeline import fit_linear_probe, probe_complementarity


def test_fit_linear_probe_separates_and_regularises():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    x = np.eye(3)[y] * 3 + rng.normal(0, 0.5, (300, 3))
    w, b = fit_linear_probe(x, y, 3, l2=1e-3)
    assert ((x @ w.T + b).argmax(1) == y).mean() > 0.97
    w_strong, _ = fit_linear_probe(x, y, 3, l2=10.0)
    assert np.abs(w_strong).sum() < 0.2 * np.abs(w).sum()  # the penalty shrinks the weights
    # deterministic: a convex problem started from zero
    w2, b2 = fit_linear_probe(x, y, 3, l2=1e-3)
    np.testing.assert_array_equal(w, w2)


def test_probe_complementarity_on_independent_noisy_views(tmp_path):
    # Every toy expert sees every dataset's class prototype through its own projection plus independent
    # noise, so the concatenation of all views beats any single one.
    store = make_toy_store(tmp_path / 'toy', n_datasets=3, n_classes=5, dim=8, latent_dim=8, noise=0.8,
                           n_train=150, n_val=100, n_test=300, labeled_fraction=0.6, seed=0,
                           multilabel=('ds2',))
    res = probe_complementarity(store)
    assert res['ds2'] == {'skipped': 'multi-label dataset'}
    for ds in ('ds0', 'ds1'):
        r = res[ds]
        assert r['own_expert'] == f'e{ds[-1]}' and r['chance'] == pytest.approx(0.2)
        assert r['n_train'] == 150  # every train clip; labeled_only=True: the labelled 60%
        assert probe_complementarity(store, labeled_only=True)[ds]['n_train'] == 90
        assert r['own'] > 2 * r['chance']
        assert r['all'] > r['own'] + 0.05, r
        assert 0 <= r['own_mAP'] <= 1 and r['l2_own'] in (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def test_probe_complementarity_skips_datasets_without_test_or_expert(tmp_path):
    store = make_toy_store(tmp_path / 'toy', n_datasets=2, n_test=None, seed=1)
    assert probe_complementarity(store) == {'ds0': {'skipped': 'needs train, val and test splits'},
                                            'ds1': {'skipped': 'needs train, val and test splits'}}
