import json

import numpy as np
import pytest

from jedi_repro.cli import main
from jedi_repro.data import feature_store as fs
from jedi_repro.data.feature_store import FeatureStore, FeatureStoreError, FeatureStoreWriter
from jedi_repro.data.toy import make_toy_store
from jedi_repro.errors import JediError


def _write_small(path, **kw):
    rng = np.random.default_rng(0)
    with FeatureStoreWriter(path, **kw) as w:
        w.add_dataset('a', ['x', 'y', 'z'])
        w.add_dataset('b', ['p', 'q'], multilabel=True, metric='mAP')
        w.add_expert('ea', dataset='a', dim=4, head_weight=rng.standard_normal((3, 4)), head_bias=np.zeros(3))
        w.add_expert('eb', dataset='b', dim=6, head_weight=rng.standard_normal((2, 6)), head_bias=np.zeros(2))
        for split, n in (('train', 10), ('val', 5)):
            w.add_labels('a', split, rng.integers(0, 3, n))
            w.add_labels('b', split, (rng.random((n, 2)) < 0.5).astype(np.uint8))
            for ds in ('a', 'b'):
                w.add_features('ea', ds, split, rng.standard_normal((n, 4)).astype(np.float16))
                w.add_features('eb', ds, split, rng.standard_normal((n, 6)).astype(np.float32))
        w.set_labeled_mask('a', np.arange(10) < 4)


def test_roundtrip_api(tmp_path):
    _write_small(tmp_path / 's')
    s = FeatureStore.open(tmp_path / 's', verify_hashes=True)
    assert s.dataset_names == ['a', 'b'] and s.expert_names == ['ea', 'eb']
    assert s.dataset('b')['multilabel'] and s.dataset('b')['metric'] == 'mAP'
    assert s.dataset('a')['splits'] == {'train': 10, 'val': 5}
    x = s.features('ea', 'b', 'val')
    assert isinstance(x, np.memmap) and x.dtype == np.float16 and x.shape == (5, 4)
    assert s.labels('a', 'train').dtype == np.int64
    assert s.labels('b', 'train').shape == (10, 2) and s.labels('b', 'train').dtype == np.uint8
    assert s.labeled_mask('a').sum() == 4 and s.labeled_mask('b').all()  # default mask: all labelled
    w, b = s.head('eb')
    assert w.shape == (2, 6) and b.shape == (2,)
    assert s.expert('eb')['dataset'] == 'b'
    assert len(s.content_hash()) == 64
    man = json.loads((tmp_path / 's' / 'manifest.json').read_text())
    assert all(len(a['sha256']) == 64 for a in man['arrays'].values())
    assert 'ea: trained on a, dim 4, float16' in s.summary()


def test_content_hash_tracks_arrays(tmp_path):
    a = make_toy_store(tmp_path / 'a', seed=0)
    b = make_toy_store(tmp_path / 'b', seed=0)
    c = make_toy_store(tmp_path / 'c', seed=1)
    assert a.content_hash() == b.content_hash() != c.content_hash()


def test_atomic_no_partial_store_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with FeatureStoreWriter(tmp_path / 's') as w:
            w.add_dataset('a', ['x'])
            raise RuntimeError('boom')
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_existing_and_overwrites(tmp_path):
    _write_small(tmp_path / 's')
    with pytest.raises(FeatureStoreError, match='already exists'):
        _write_small(tmp_path / 's')
    h = FeatureStore.open(tmp_path / 's').content_hash()
    make_toy_store(tmp_path / 's', overwrite=True)
    assert FeatureStore.open(tmp_path / 's').content_hash() != h
    assert sorted(p.name for p in tmp_path.iterdir()) == ['s']


def test_writer_missing_val_split_leaves_nothing(tmp_path):
    with pytest.raises(FeatureStoreError, match="lacks the 'val' split"):
        with FeatureStoreWriter(tmp_path / 's') as w:
            w.add_dataset('a', ['x', 'y'])
            w.add_expert('e', dataset='a', dim=2, head_weight=np.zeros((2, 2)), head_bias=np.zeros(2))
            w.add_labels('a', 'train', [0, 1])
            w.add_features('e', 'a', 'train', np.zeros((2, 2), np.float32))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('call, match', [
    (lambda w: w.add_labels('a', 'train', [0, 3]), r'label 3 outside \[0, 2\]'),
    (lambda w: w.add_labels('a', 'train', [[0, 1]]), 'expected int labels'),
    (lambda w: w.add_labels('a', 'dev', [0]), "unknown split 'dev'"),
    (lambda w: w.add_features('e', 'a', 'train', np.zeros((2, 5), np.float32)), r'expected \[N, 2\]'),
    (lambda w: w.add_features('e', 'a', 'train', np.full((2, 2), np.nan, np.float32)), 'NaN or Inf'),
    (lambda w: w.add_features('e', 'a', 'train', np.zeros((2, 2), np.int32)), 'dtype int32'),
    (lambda w: w.add_features('zz', 'a', 'train', np.zeros((2, 2), np.float32)), "unknown expert 'zz'"),
    (lambda w: w.add_expert('f', dataset='a', dim=2, head_weight=np.zeros((4, 2)), head_bias=np.zeros(3)),
     'head of expert'),
    (lambda w: w.add_dataset('../x', ['a']), 'not allowed'),
])
def test_writer_bad_input(tmp_path, call, match):
    with pytest.raises(FeatureStoreError, match=match):
        with FeatureStoreWriter(tmp_path / 's') as w:
            w.add_dataset('a', ['x', 'y', 'z'])
            w.add_expert('e', dataset='a', dim=2, head_weight=np.zeros((3, 2)), head_bias=np.zeros(3))
            call(w)
    assert not (tmp_path / 's').exists()


def test_open_detects_corruption(tmp_path):
    s = make_toy_store(tmp_path / 's', n_datasets=2, dim=4, n_train=20, n_val=10, n_test=None)
    root = tmp_path / 's'
    # NaN in a block, written behind the store's back
    f = root / fs.feature_path('e1', 'ds0', 'val')
    x = np.load(f)
    x[3, 1] = np.inf
    np.save(f, x)
    with pytest.raises(FeatureStoreError, match='features/e1/ds0/val.npy contains NaN or Inf'):
        FeatureStore.open(root)
    with pytest.raises(FeatureStoreError, match='sha256 differs'):
        FeatureStore.open(root, check_values=False, verify_hashes=True)
    np.save(f, np.asarray(s.features('e1', 'ds1', 'val')))  # restore a finite block
    # wrong dims
    np.save(f, np.zeros((10, 5), np.float32))
    with pytest.raises(FeatureStoreError, match='features/e1/ds0/val.npy'):
        FeatureStore.open(root)
    # missing block
    f.unlink()
    with pytest.raises(FeatureStoreError, match='missing block features/e1/ds0/val.npy'):
        FeatureStore.open(root)


def test_open_label_range_and_version(tmp_path):
    make_toy_store(tmp_path / 's', n_datasets=2, dim=4, n_train=20, n_val=10, n_classes=3)
    root = tmp_path / 's'
    lf = root / fs.labels_path('ds1', 'test')
    y = np.load(lf)
    y[0] = 7
    np.save(lf, y)
    man = json.loads((root / 'manifest.json').read_text())
    with pytest.raises(FeatureStoreError, match=r'labels/ds1/test.npy: label 7 outside \[0, 2\]'):
        FeatureStore.open(root)
    man['format_version'] = 99
    (root / 'manifest.json').write_text(json.dumps(man))
    with pytest.raises(FeatureStoreError, match='format_version'):
        FeatureStore.open(root)
    (root / 'manifest.json').write_text('{')
    with pytest.raises(FeatureStoreError, match='not valid JSON'):
        FeatureStore.open(root)
    with pytest.raises(FeatureStoreError, match='does not exist'):
        FeatureStore.open(tmp_path / 'nope')


def test_value_scan_is_chunked(tmp_path, monkeypatch):
    """NaN detection works when a block spans many chunks (memory-bounded scan)."""
    monkeypatch.setattr(fs, '_CHUNK_BYTES', 64)
    s = make_toy_store(tmp_path / 's', n_datasets=1, dim=8, n_train=50, n_val=10, n_test=None)
    f = tmp_path / 's' / fs.feature_path('e0', 'ds0', 'train')
    x = np.asarray(s.features('e0', 'ds0', 'train')).copy()
    x[47, 7] = np.nan
    np.save(f, x)
    with pytest.raises(FeatureStoreError, match='NaN or Inf'):
        FeatureStore.open(tmp_path / 's')


def test_unknown_names(tmp_path):
    s = make_toy_store(tmp_path / 's', n_datasets=2, dim=4, n_test=None)
    with pytest.raises(FeatureStoreError, match="dataset 'zz'"):
        s.labels('zz', 'train')
    with pytest.raises(FeatureStoreError, match="no split 'test'"):
        s.features('e0', 'ds0', 'test')
    assert isinstance(FeatureStoreError('x'), JediError)


# ------------------------------------------------------------------ CLI
def _npz_inputs(tmp_path, rng, bad=None):
    paths = {}
    for ds, c in (('a', 3), ('b', 2)):
        arrs = {}
        for split, n in (('train', 8), ('val', 4), ('test', 4)):
            arrs[f'y_{split}'] = rng.integers(0, c, n)
            arrs[f'feat__ea__{split}'] = rng.standard_normal((n, 4)).astype(np.float16)
            arrs[f'feat__eb__{split}'] = rng.standard_normal((n, 5)).astype(np.float32)
        arrs['class_names'] = np.array([f'{ds}{i}' for i in range(c)])
        arrs['labeled_train'] = np.arange(8) < 5
        if bad == 'label' and ds == 'b':
            arrs['y_val'][1] = 9
        if bad == 'dims' and ds == 'b':
            arrs['feat__ea__val'] = rng.standard_normal((4, 3)).astype(np.float16)
        paths[ds] = tmp_path / f'{ds}.npz'
        np.savez(paths[ds], **arrs)
    np.savez(tmp_path / 'ha.npz', weight=rng.standard_normal((3, 4)), bias=np.zeros(3))
    np.savez(tmp_path / 'hb.npz', weight=rng.standard_normal((2, 5)), bias=np.zeros(2))
    return ['features', 'import-npz', '--out', str(tmp_path / 'store'), '--dataset', f'a={paths["a"]}',
            '--dataset', f'b={paths["b"]}', '--expert', f'ea=a:{tmp_path / "ha.npz"}',
            '--expert', f'eb=b:{tmp_path / "hb.npz"}', '--metric', 'b=mAP']


def test_cli_import_npz_and_info(tmp_path, capsys):
    argv = _npz_inputs(tmp_path, np.random.default_rng(0))
    assert main(argv) == 0
    s = FeatureStore.open(tmp_path / 'store')
    assert s.dataset('a')['classes'] == ['a0', 'a1', 'a2'] and s.dataset('b')['metric'] == 'mAP'
    assert s.labeled_mask('a').sum() == 5 and s.features('eb', 'a', 'test').shape == (4, 5)
    capsys.readouterr()
    assert main(['features', 'info', str(tmp_path / 'store'), '--verify']) == 0
    out = capsys.readouterr().out
    assert '2 datasets' in out and 'eb: trained on b, dim 5, float32' in out


@pytest.mark.parametrize('bad, match', [('label', 'label 9 outside'), ('dims', 'feat')])
def test_cli_import_npz_bad_input(tmp_path, capsys, bad, match):
    argv = _npz_inputs(tmp_path, np.random.default_rng(0), bad=bad)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith('error:') and match in err and 'Traceback' not in err
    assert not (tmp_path / 'store').exists()


def test_cli_info_missing_store(tmp_path, capsys):
    assert main(['features', 'info', str(tmp_path / 'missing')]) == 1
    assert 'does not exist' in capsys.readouterr().err


def test_cli_import_npz_missing_array(tmp_path, capsys):
    argv = _npz_inputs(tmp_path, np.random.default_rng(0))
    argv[argv.index('--expert') + 1] = f'zz=a:{tmp_path / "ha.npz"}'
    assert main(argv) == 1
    assert "has no array 'feat__zz__train'" in capsys.readouterr().err
