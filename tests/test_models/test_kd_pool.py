"""model.kd_pool: which pool rows student i distils on (selection masks, loss, config checks)."""
import numpy as np
import pytest
import torch

from jedi_repro.errors import JediError
from jedi_repro.models.kd_losses import KDCrossEntropy
from jedi_repro.models.kd_pool import check_pool_covers_students, pool_selection, selected_datasets
from jedi_repro.models.losses import jedi_loss


def test_selection_masks_pick_the_rows_of_the_chosen_datasets():
    sizes = [2, 3, 0, 4]  # pool batch grouped by dataset: rows 0-1 D0, 2-4 D1, none of D2, 5-8 D3
    rows, sel = pool_selection(sizes, 1, 'all')
    assert rows.tolist() == list(range(9)) and sel == sizes
    rows, sel = pool_selection(sizes, 1, 'own')
    assert rows.tolist() == [2, 3, 4] and sel == [0, 3, 0, 0]
    rows, sel = pool_selection(sizes, 1, 'others')
    assert rows.tolist() == [0, 1, 5, 6, 7, 8] and sel == [2, 0, 0, 4]
    rows, sel = pool_selection(sizes, 2, 'own')  # D2 has no rows in this batch
    assert rows.tolist() == [] and rows.dtype == np.int64 and sel == [0, 0, 0, 0]
    # own and others partition every student's pool rows
    for i in range(4):
        own, others = pool_selection(sizes, i, 'own')[0], pool_selection(sizes, i, 'others')[0]
        assert sorted(own.tolist() + others.tolist()) == list(range(9))
    assert selected_datasets('others', 0, 3) == [1, 2]
    with pytest.raises(JediError, match="model.kd_pool='mine'"):
        pool_selection(sizes, 0, 'mine')


def _ref_kd(s, t, tau=2.0):
    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return tau ** 2 * np.mean(-(np.exp(log_softmax(t / tau)) * log_softmax(s / tau)).sum(axis=1))


@pytest.mark.parametrize('reduction', ['dataset_sum', 'pool_mean'])
def test_loss_distils_each_student_on_its_selection(reduction):
    rng = np.random.default_rng(3)
    sizes = [3, 2, 4]
    names, classes = ['a', 'b', 'c'], [4, 3, 5]
    T = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    ks = [rng.standard_normal((9, c)) for c in classes]
    kt = [rng.standard_normal((9, c)) for c in classes]
    sup = [T(rng.standard_normal((1, c))) for c in classes]
    y = [torch.tensor([0])] * 3
    common = dict(names=names, multilabel=[False] * 3, alpha=1.0, beta=1.0, gamma=0.5,
                  kd_loss=KDCrossEntropy(temperature=2.0), pool_sizes=sizes, kd_reduction=reduction)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    groups = [slice(bounds[j], bounds[j + 1]) for j in range(3)]

    def ref(i, datasets):
        if reduction == 'pool_mean':
            rows = np.concatenate([np.arange(9)[groups[j]] for j in datasets])
            return 0.5 * _ref_kd(ks[i][rows], kt[i][rows])
        return 0.5 * sum(_ref_kd(ks[i][groups[j]], kt[i][groups[j]]) for j in datasets)

    out = {p: jedi_loss(sup, sup, y, [T(a) for a in ks], [T(a) for a in kt], kd_pool=p, **common)
           for p in ('all', 'own', 'others')}
    for i, name in enumerate(names):
        assert out['all'][f'loss_kd_{name}'].item() == pytest.approx(ref(i, [0, 1, 2]), abs=1e-12)
        assert out['own'][f'loss_kd_{name}'].item() == pytest.approx(ref(i, [i]), abs=1e-12)
        assert out['others'][f'loss_kd_{name}'].item() == pytest.approx(
            ref(i, [j for j in range(3) if j != i]), abs=1e-12)
    # the supervised terms do not depend on the pool choice
    assert out['own']['loss_student_a'].item() == out['all']['loss_student_a'].item()


def test_loss_all_is_the_unselected_computation_bit_for_bit():
    """kd_pool='all' takes the exact code path of before the key existed (same float32 bits)."""
    from jedi_repro.models.losses import reduce_kd
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(10, 4, generator=g), torch.randn(10, 4, generator=g)
    kd = KDCrossEntropy(temperature=2.0)
    sizes = [4, 0, 6]
    out = jedi_loss([s[:2]], [t[:2]], [torch.tensor([0, 1])], [s], [t], names=['a'], multilabel=[False],
                    alpha=1.0, beta=1.0, gamma=0.4, kd_loss=kd, pool_sizes=sizes)
    assert torch.equal(out['loss_kd_a'], 0.4 * reduce_kd(kd, s, t, multilabel=False, pool_sizes=sizes,
                                                         reduction='dataset_sum'))


def test_a_selection_needs_the_pool_grouped_by_dataset():
    s = torch.zeros(3, 2)
    with pytest.raises(ValueError, match='pool_sizes'):
        jedi_loss([s], [s], [torch.tensor([0, 0, 0])], [s], [s], names=['a'], multilabel=[False], alpha=1.0,
                  beta=1.0, gamma=0.4, kd_loss=KDCrossEntropy(), kd_pool='own')


def test_a_pool_that_leaves_a_student_nothing_is_refused():
    names = ['a', 'b', 'c']
    check_pool_covers_students('all', names, [], 128)  # the paper's reading: unchanged behaviour
    check_pool_covers_students('own', names, None, 128)
    check_pool_covers_students('others', names, ['a', 'b'], 128)  # a distils on b; b and c on a
    with pytest.raises(JediError, match=r"kd_pool='own' leaves student\(s\) \['b', 'c'\]"):
        check_pool_covers_students('own', names, ['a'], 128)
    with pytest.raises(JediError, match=r"kd_pool='others' leaves student\(s\) \['a'\]"):
        check_pool_covers_students('others', names, 'a', 128)
    with pytest.raises(JediError, match='unlabeled_batch_size=0'):
        check_pool_covers_students('own', names, None, 0)


def test_kd_pool_is_recorded_by_train(tmp_path):
    """(Its study-spec check is in tests/test_studies/test_spec.py, beside the other searched keys.)"""
    import json

    from jedi_repro.data.toy import make_toy_store
    from jedi_repro.engine.train import train
    from jedi_repro.workspace import checkout_root
    default = checkout_root() / 'mm_configs' / 'jedi' / 'jedi_default.py'
    make_toy_store(tmp_path / 'store', n_datasets=2, n_classes=3, dim=8, n_train=40, n_val=10, n_test=10)
    m = train(default, features=tmp_path / 'store', work_dir=tmp_path / 'wd', seed=0,
              cfg_options={'model.kd_pool': 'own', 'train_cfg.max_epochs': 1})
    assert m['config']['model']['kd_pool'] == 'own'
    assert json.loads((tmp_path / 'wd' / 'metrics.json').read_text())['config']['model']['kd_pool'] == 'own'
