import numpy as np
import pytest
import torch

from jedi_repro.data.multi_dataset import (
    JEDIEpochSampler,
    JEDIEvalBatches,
    JEDITrainBatches,
    labeled_indices,
    stratified_subset,
)
from jedi_repro.data.toy import make_toy_store
from jedi_repro.errors import JediError


@pytest.fixture
def store(tmp_path):
    return make_toy_store(tmp_path / 's', n_datasets=3, n_classes=4, dim=[5, 6, 7], n_train=50,
                          n_val=13, n_test=None, dtype='float16', labeled_fraction=0.8, seed=1)


def _rows(store, batch, expert=0):
    """Recover (dataset, index) of each row by matching features (the toy features are all distinct)."""
    feats = batch['feats'][expert].numpy()
    table = {}
    for d in range(3):
        x = np.asarray(store.features(f'e{expert}', f'ds{d}', 'train'))
        for i, row in enumerate(x):
            table[row.tobytes()] = (d, i)
    return [table[r.tobytes()] for r in feats]


def test_batch_composition_and_dtypes(store):
    data = JEDITrainBatches(store, labeled_batch_size=4, unlabeled_batch_size=16, seed=0)
    b = data[(0, 0)]
    assert b['sup_sizes'] == [4, 4, 4] and b['pool_size'] == 16
    assert all(f.shape[0] == 28 and f.dtype == torch.float16 for f in b['feats'])  # stays float16
    rows = _rows(store, b)
    assert [d for d, _ in rows[:12]] == [0] * 4 + [1] * 4 + [2] * 4
    for i in range(3):  # labelled rows are labelled in the store, labels match
        idx = [ix for _, ix in rows[4 * i:4 * i + 4]]
        assert store.labeled_mask(f'ds{i}')[idx].all()
        assert np.array_equal(b['labels'][i].numpy(), store.labels(f'ds{i}', 'train')[idx])
    # same rows through every expert
    assert _rows(store, b, expert=2) == rows


def test_epoch_covers_pool_and_is_deterministic(store):
    data = JEDITrainBatches(store, labeled_batch_size=4, unlabeled_batch_size=16, seed=0)
    assert len(data) == max(int(np.ceil(150 / 16)), int(np.ceil(40 / 4)))
    seen = set()
    for it in range(len(data)):
        seen.update(_rows(store, data[(0, it)])[12:])
    assert len(seen) == 150  # every pool sample at least once per epoch
    again = JEDITrainBatches(store, labeled_batch_size=4, unlabeled_batch_size=16, seed=0)
    for it in (0, 3):
        assert all(torch.equal(a, b) for a, b in zip(data[(0, it)]['feats'], again[(0, it)]['feats']))
    assert not torch.equal(data[(0, 0)]['feats'][0], data[(1, 0)]['feats'][0])  # new order each epoch
    other = JEDITrainBatches(store, labeled_batch_size=4, unlabeled_batch_size=16, seed=1)
    assert not torch.equal(data[(0, 0)]['feats'][0], other[(0, 0)]['feats'][0])


def test_sampler_yields_epoch_keys(store):
    data = JEDITrainBatches(store, labeled_batch_size=4, unlabeled_batch_size=16)
    s = JEDIEpochSampler(data)
    s.set_epoch(3)
    assert list(s)[:2] == [(3, 0), (3, 1)] and len(s) == len(data)


def test_labeled_fraction_stratified_and_masked(store):
    full = labeled_indices(store, 1.0, seed=0)
    assert [len(ix) for ix in full] == [40, 40, 40]  # the store's mask (80%)
    part = labeled_indices(store, {'ds1': 0.25}, seed=0)
    assert len(part[0]) == 40 and set(part[1]) <= set(full[1])
    y = store.labels('ds1', 'train')
    for c in range(4):
        n_c = int((y[full[1]] == c).sum())
        assert int((y[part[1]] == c).sum()) == max(1, round(0.25 * n_c))
    assert np.array_equal(labeled_indices(store, 0.5, seed=3)[2], labeled_indices(store, 0.5, seed=3)[2])
    assert not np.array_equal(labeled_indices(store, 0.5, seed=3)[2], labeled_indices(store, 0.5, seed=4)[2])


def test_stratified_subset_keeps_one_per_class():
    cand = np.arange(10)
    strata = np.array([0] * 9 + [1])
    sub = stratified_subset(cand, strata, 0.1, np.random.default_rng(0))
    assert 9 in sub and len(sub) == 2


def test_unlabeled_datasets_selects_pool(store):
    data = JEDITrainBatches(store, labeled_batch_size=4, unlabeled_batch_size=8, unlabeled_datasets=['ds2'])
    rows = _rows(store, data[(0, 0)])
    assert {d for d, _ in rows[12:]} == {2}
    none = JEDITrainBatches(store, labeled_batch_size=4, unlabeled_batch_size=8, unlabeled_datasets=[])
    assert none[(0, 0)]['pool_size'] == 0 and len(none) == 10


@pytest.mark.parametrize('kw, match', [
    (dict(unlabeled_datasets=['nope']), "unknown dataset\\(s\\) \\['nope'\\]"),
    (dict(labeled_fraction={'nope': 0.5}), 'labeled_fraction names unknown'),
    (dict(labeled_fraction=0.0), 'must be in \\(0, 1\\]'),
    (dict(labeled_fraction=1.5), 'must be in \\(0, 1\\]'),
    (dict(labeled_batch_size=0), 'labeled_batch_size'),
])
def test_bad_data_config(store, kw, match):
    with pytest.raises(JediError, match=match):
        JEDITrainBatches(store, **kw)


def test_eval_batches_cover_split(store):
    ev = JEDIEvalBatches(store, split='val', batch_size=5)
    assert len(ev) == 3 * 3
    assert sum(ev[j]['labels'].shape[0] for j in range(len(ev))) == 39
    assert JEDIEvalBatches(store, split='test', fallback='val').splits == {f'ds{i}': 'val' for i in range(3)}
    with pytest.raises(JediError, match="no 'test' split"):
        JEDIEvalBatches(store, split='test', fallback=None)


def test_pool_sizes_group_the_pool_by_dataset(store):
    data = JEDITrainBatches(store, labeled_batch_size=4, unlabeled_batch_size=16, seed=0)
    b = data[(0, 1)]
    assert sum(b['pool_sizes']) == b['pool_size'] == 16
    pool_ds = [d for d, _ in _rows(store, b)[12:]]
    assert pool_ds == sorted(pool_ds)  # grouped, in dataset order
    assert [pool_ds.count(d) for d in range(3)] == b['pool_sizes']


def test_balanced_pool_mix_gives_each_dataset_an_equal_share(tmp_path):
    # proportional: each batch's shares vary with the draw; balanced: the same equal split every batch
    s = make_toy_store(tmp_path / 'u', n_datasets=3, n_classes=3, dim=4, n_train=30, n_val=6, n_test=None,
                       seed=2)
    prop = JEDITrainBatches(s, labeled_batch_size=2, unlabeled_batch_size=16, seed=0)
    assert len({tuple(prop[(0, it)]['pool_sizes']) for it in range(len(prop))}) > 1
    data = JEDITrainBatches(s, labeled_batch_size=2, unlabeled_batch_size=16, pool_mix='balanced', seed=0)
    for it in range(len(data)):
        assert data[(0, it)]['pool_sizes'] == [6, 5, 5]
    cover = set()
    for it in range(len(data)):
        cover.update(_rows(s, data[(0, it)])[6:])
    assert len(cover) == 90  # equal sizes here: every pool sample still seen in an epoch
    again = JEDITrainBatches(s, labeled_batch_size=2, unlabeled_batch_size=16, pool_mix='balanced', seed=0)
    assert all(torch.equal(a, b) for a, b in zip(data[(2, 1)]['feats'], again[(2, 1)]['feats']))
    with pytest.raises(JediError, match='pool_mix'):
        JEDITrainBatches(s, pool_mix='even')
    with pytest.raises(JediError, match='smaller than the number of pooled datasets'):
        JEDITrainBatches(s, unlabeled_batch_size=2, pool_mix='balanced')
