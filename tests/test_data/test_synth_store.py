"""`jedi features synth`: the paper-sized synthetic store, its streaming writer, and bounded page use."""
import json

import numpy as np
import pytest

from jedi_repro.cli import main
from jedi_repro.data.feature_store import FeatureStore, FeatureStoreError, FeatureStoreWriter
from jedi_repro.data.files import sha256_file
from jedi_repro.data.npy_stream import PageBudget, all_finite, drop_pages, write_npy_stream
from jedi_repro.data.synth_store import PRESETS, preset_layout, store_bytes, synth_store
from jedi_repro.errors import JediError

TINY = 0.001  # every split at its floor (2 x classes train, classes val): 2,256 rows, 46 MB in float16


@pytest.fixture(scope='module')
def tiny_store(tmp_path_factory):
    return synth_store(tmp_path_factory.mktemp('synth') / 'paper', scale=TINY, dtype='float16', seed=0,
                       chunk=300)  # chunks smaller than a split: the streaming path is exercised


def test_layout_has_the_papers_sizes_classes_and_dims():
    full = {d['name']: d for d in preset_layout('paper', 1.0)}
    assert {n: (d['splits']['train'], d['splits']['val']) for n, d in full.items()} == {
        'kinetics400': (240_436, 19_796), 'ucf101': (9_537, 3_783), 'hmdb51': (3_570, 1_530),
        'activitynet': (10_024, 4_926)}
    assert [d['classes'] for d in full.values()] == [400, 101, 51, 200]
    assert [d['dim'] for d in full.values()] == [2048, 4096, 2048, 2048]
    assert full['activitynet']['metric'] == 'mAP'
    assert 5.5 < store_bytes(list(full.values()), 'float16') / 2**30 < 5.7
    quarter = {d['name']: d['splits'] for d in preset_layout('paper', 0.25)}
    assert quarter['kinetics400'] == dict(train=60_109, val=4_949)


def test_tiny_store_shapes_dtypes_manifest(tiny_store):
    st = tiny_store
    layout = preset_layout('paper', TINY)
    assert st.dataset_names == [d['name'] for d in layout]
    man = json.loads((st.path / 'manifest.json').read_text())
    for d in layout:
        assert st.dataset(d['name'])['metric'] == d['metric']
        assert len(st.dataset(d['name'])['classes']) == d['classes']
        for split, n in d['splits'].items():
            y = st.labels(d['name'], split)
            assert y.shape == (n,) and y.dtype == np.int64
            assert set(np.unique(y)) == set(range(d['classes']))  # every class in every split
            for e in layout:
                x = st.features(e['expert'], d['name'], split)
                assert x.shape == (n, e['dim']) and x.dtype == np.float16
                rel = f'features/{e["expert"]}/{d["name"]}/{split}.npy'
                assert man['arrays'][rel]['sha256'] == sha256_file(st.path / rel)  # the streamed hash
        w, b = st.head(d['expert'])
        assert w.shape == (d['classes'], d['dim']) and b.shape == (d['classes'],)
    assert not list(st.path.parent.glob('.paper.tmp-*'))  # the temp dir was renamed away


def test_experts_are_above_chance_but_imperfect(tiny_store):
    st = tiny_store
    for e in st.expert_names:
        ds = st.expert(e)['dataset']
        w, b = st.head(e)
        x = np.asarray(st.features(e, ds, 'val'), np.float32)
        acc = float(((x @ w.T + b).argmax(1) == st.labels(ds, 'val')).mean())
        chance = 1 / w.shape[0]
        assert 5 * chance < acc < 0.99, (e, acc)


def test_same_seed_same_store_other_seed_other(tmp_path, tiny_store):
    again = synth_store(tmp_path / 'again', scale=TINY, seed=0, chunk=300)
    assert again.content_hash() == tiny_store.content_hash()
    other = synth_store(tmp_path / 'other', scale=TINY, seed=1, chunk=300)
    assert other.content_hash() != tiny_store.content_hash()


def test_cli_synth_info_verify_and_refusals(tmp_path, capsys):
    out = tmp_path / 's32'
    assert main(['features', 'synth', '--scale', str(TINY), '--dtype', 'float32', '--out', str(out)]) == 0
    assert FeatureStore.open(out).features('c3d_ucf101', 'ucf101', 'val').dtype == np.float32
    assert main(['features', 'info', str(out), '--verify']) == 0
    assert 'c3d_ucf101: trained on ucf101, dim 4096, float32' in capsys.readouterr().out
    assert main(['features', 'synth', '--scale', str(TINY), '--out', str(out)]) == 1  # exists
    assert main(['features', 'synth', '--scale', '0', '--out', str(tmp_path / 'z')]) == 1
    assert main(['features', 'synth', '--preset', 'nope', '--out', str(tmp_path / 'z')]) == 1
    err = capsys.readouterr().err
    assert 'already exists' in err and '--scale 0.0 must be in (0, 1]' in err and "'nope' is unknown" in err
    assert not (tmp_path / 'z').exists()


def test_one_epoch_train_on_the_tiny_store(tiny_store, tmp_path):
    from jedi_repro.engine.train import train
    m = train('mm_configs/jedi/jedi_default.py', tiny_store.path, tmp_path / 'run', seed=0,
              cfg_options={'train_cfg.max_epochs': 1, 'data.iters_per_epoch': 3,
                           'model.adjustment.hidden_dim': 16, 'data.eval_batch_size': 4096})
    assert set(m['datasets']) == set(tiny_store.dataset_names)
    assert 'mAP' in m['datasets']['activitynet']['teacher']
    n_cls = {d: len(tiny_store.dataset(d)['classes']) for d in tiny_store.dataset_names}
    for d, roles in m['datasets'].items():  # the experts' heads carry over: students start above chance
        assert roles['expert']['top1'] > 3 / n_cls[d]
    assert (tmp_path / 'run' / 'metrics.json').is_file()


def test_write_npy_stream_matches_np_save(tmp_path):
    a = np.random.default_rng(0).standard_normal((1000, 24)).astype(np.float16)
    sha = write_npy_stream(tmp_path / 'a.npy', a.shape, a.dtype, (a[i:i + 128] for i in range(0, 1000, 128)))
    assert sha == sha256_file(tmp_path / 'a.npy')
    np.testing.assert_array_equal(np.load(tmp_path / 'a.npy'), a)
    np.save(tmp_path / 'b.npy', a)
    assert sha == sha256_file(tmp_path / 'b.npy')  # byte-identical to numpy's own writer
    with pytest.raises(ValueError, match='more than the declared 999 rows'):
        write_npy_stream(tmp_path / 'c.npy', (999, 24), a.dtype, [a])
    with pytest.raises(ValueError, match='1000 rows written, 1001 declared'):
        write_npy_stream(tmp_path / 'c.npy', (1001, 24), a.dtype, [a])
    with pytest.raises(ValueError, match='expected rows of'):
        write_npy_stream(tmp_path / 'c.npy', (1000, 25), a.dtype, [a])
    bad = a.copy()
    bad[3, 3] = np.inf
    with pytest.raises(ValueError, match='NaN or Inf'):
        write_npy_stream(tmp_path / 'c.npy', a.shape, a.dtype, [bad], what='blk')


def test_writer_stream_refuses_bad_chunks_and_leaves_nothing(tmp_path):
    with pytest.raises(FeatureStoreError, match='features/e/d/train.npy: 3 rows written, 4 declared'):
        with FeatureStoreWriter(tmp_path / 's') as w:
            w.add_dataset('d', ['a', 'b'])
            w.add_expert('e', 'd', 2, np.zeros((2, 2)), np.zeros(2))
            w.add_labels('d', 'train', [0, 1, 0, 1])
            w.add_features_stream('e', 'd', 'train', [np.zeros((3, 2))], dtype='float32')
    assert not (tmp_path / 's').exists() and not list(tmp_path.iterdir())


def _rss_file_kb() -> int:
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith('RssFile:'))


def test_drop_pages_releases_mapped_pages(tmp_path):
    a = np.ones((4096, 1024), np.float32)  # 16 MB
    np.save(tmp_path / 'a.npy', a)
    m = np.load(tmp_path / 'a.npy', mmap_mode='r')
    before = _rss_file_kb()
    assert float(m.sum()) == a.size  # touches every page
    touched = _rss_file_kb()
    assert touched - before > 12_000
    assert drop_pages(m)
    assert _rss_file_kb() - before < 2_000
    assert float(m[:10].sum()) == 10 * 1024  # still readable after the drop
    assert not drop_pages(a)  # not a map: nothing to do
    budget = PageBudget(budget_bytes=100)
    assert not budget.charge(50, [m]) and budget.charge(60, [m]) and budget.used == 0


def test_synth_refuses_a_store_larger_than_the_free_disk(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple
    usage = namedtuple('usage', 'total used free')
    monkeypatch.setattr(shutil, 'disk_usage', lambda p: usage(10**12, 10**12, 10**6))
    with pytest.raises(JediError, match='GiB are free'):
        synth_store(tmp_path / 'big', scale=0.5)
    assert not (tmp_path / 'big').exists()
    assert sorted(PRESETS) == ['paper']


@pytest.mark.parametrize('dtype', ['float16', 'float32', 'float64'])
def test_all_finite_agrees_with_isfinite(dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((64, 33)) * 1e3).astype(dtype)
    assert all_finite(x) and all_finite(x[:0])
    big = np.full((4, 4), np.finfo(dtype).max, dtype)  # finite, but its float32 sum would overflow
    assert all_finite(big)
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[17, 5] = bad
        assert not all_finite(y) and not all_finite(y[10:20, 3:9])  # strided views too
    y = x.copy()
    y[0, 0], y[1, 1] = np.inf, -np.inf  # they cancel to NaN in a sum: still caught
    assert not all_finite(y)


def test_iters_per_epoch_caps_an_epoch_and_refuses_bad_values(tiny_store):
    from jedi_repro.data.multi_dataset import JEDITrainBatches
    full = JEDITrainBatches(tiny_store, labeled_batch_size=8, unlabeled_batch_size=16)
    capped = JEDITrainBatches(tiny_store, labeled_batch_size=8, unlabeled_batch_size=16, iters_per_epoch=3)
    assert len(full) > 3 and len(capped) == 3
    assert capped[(0, 2)]['feats'][0].shape[0] == 8 * 4 + 16
    assert not np.array_equal(capped.plan(0)[1], capped.plan(1)[1])  # each epoch draws a fresh plan
    for bad in (0, -1, 2.5, True, '3'):
        with pytest.raises(JediError, match='data.iters_per_epoch'):
            JEDITrainBatches(tiny_store, iters_per_epoch=bad)
