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


def test_the_demo_probe_table_says_its_metric_and_repeats_the_heads_primary_metric(tmp_path):
    """Every column top-1 (the probes' metric), plus the head on the dataset's primary metric, so that an
    mAP dataset's head reads as in the main table (it read top-1 80.8 beside the main table's mAP 87.1)."""
    import json

    from jedi_repro.cli.demo import probe_section

    summary = {'own_dataset_test': {'e_a': {'dataset': 'anet', 'top1': 0.808, 'mAP': 0.8709, 'metric': 'mAP'},
                                    'e_u': {'dataset': 'ucf', 'top1': 0.75, 'mAP': 0.7, 'metric': 'top1'}},
               'probe_test': {'anet': {'chance': 1 / 6, 'own': 0.842, 'all': 0.917},
                              'ucf': {'chance': 0.125, 'own': 0.806, 'all': 0.875}}}
    (tmp_path / 'pipeline.json').write_text(json.dumps(summary))
    md = '\n'.join(probe_section(tmp_path / 'pipeline.json'))
    assert ('| dataset | expert head, primary metric (main table) | chance, top-1 | expert head, top-1 '
            '| probe: own expert, top-1 | probe: all experts, top-1 |') in md
    assert '| anet | 87.09 (mAP) | 16.67 | 80.80 | 84.20 | 91.70 |' in md
    assert '| ucf | 75.00 (top1) | 12.50 | 75.00 | 80.60 | 87.50 |' in md
    assert '**top-1 on the test split, %**' in md
