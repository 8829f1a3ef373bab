import hashlib
import json

import decord
import numpy as np
import pytest

from jedi_repro.data.synth import DATASETS, PRESETS, generate
from jedi_repro.data.synth.datasets import get_dataset
from jedi_repro.data.synth.generate import labeled_subset
from jedi_repro.errors import JediError


def _decoded_digest(root, dataset, split):
    h = hashlib.sha256()
    for line in (root / dataset / f'{split}.txt').read_text().split('\n'):
        if line:
            rel, label = line.split()
            vr = decord.VideoReader(str(root / dataset / rel))
            h.update(vr.get_batch(list(range(len(vr)))).asnumpy().tobytes() + label.encode())
    return h.hexdigest()


@pytest.fixture(scope='module')
def hmdb_pair(tmp_path_factory):
    spec = (get_dataset('hmdb_like'),)
    base = tmp_path_factory.mktemp('synth')
    a = generate(base / 'a', 'quick', seed=3, datasets=spec, log=None)
    b = generate(base / 'b', 'quick', seed=3, datasets=spec, log=None)
    c = generate(base / 'c', 'quick', seed=4, datasets=spec, log=None)
    return a, b, c


def test_same_seed_same_benchmark(hmdb_pair):
    a, b, _ = hmdb_pair
    for split in ('train', 'val', 'test'):
        la, lb = (a / 'hmdb_like' / f'{split}.txt'), (b / 'hmdb_like' / f'{split}.txt')
        assert la.read_text() == lb.read_text()
        assert _decoded_digest(a, 'hmdb_like', split) == _decoded_digest(b, 'hmdb_like', split)
    assert (a / 'hmdb_like' / 'train_labeled.txt').read_text() == \
        (b / 'hmdb_like' / 'train_labeled.txt').read_text()


def test_other_seed_other_videos(hmdb_pair):
    a, _, c = hmdb_pair
    assert _decoded_digest(a, 'hmdb_like', 'val') != _decoded_digest(c, 'hmdb_like', 'val')


def test_layout_lists_and_metadata(hmdb_pair):
    a, _, _ = hmdb_pair
    bench = json.loads((a / 'benchmark.json').read_text())
    assert bench['datasets'] == ['hmdb_like'] and bench['preset'] == 'quick' and bench['seed'] == 3
    meta = json.loads((a / 'hmdb_like' / 'dataset.json').read_text())
    spec = get_dataset('hmdb_like')
    assert meta['classes'] == list(spec.classes) and meta['metric'] == 'top1'
    per_class = PRESETS['quick']['hmdb_like']
    for split in ('train', 'val', 'test'):
        lines = (a / 'hmdb_like' / f'{split}.txt').read_text().split()
        labels = np.array(lines[1::2], int)
        assert meta['splits'][split]['n'] == len(labels) == per_class[split] * len(spec.classes)
        assert np.bincount(labels).tolist() == [per_class[split]] * len(spec.classes)
        for rel in lines[0::2]:
            vr = decord.VideoReader(str(a / 'hmdb_like' / rel))
            assert len(vr) == spec.domain.n_frames and vr[0].shape == (*spec.domain.size, 3)
    labeled = (a / 'hmdb_like' / 'train_labeled.txt').read_text().split('\n')
    train = (a / 'hmdb_like' / 'train.txt').read_text().split('\n')
    assert set(labeled) <= set(train) and 0 < len([x for x in labeled if x]) < len([x for x in train if x])


def test_labeled_subset_is_stratified():
    labels = np.repeat(np.arange(4), 10)
    mask = labeled_subset(labels, 0.3, np.random.default_rng(0))
    assert np.bincount(labels[mask]).tolist() == [3, 3, 3, 3]
    assert labeled_subset(labels, 1.0, np.random.default_rng(0)).all()


def test_refuses_to_overwrite_and_unknown_preset(tmp_path):
    (tmp_path / 'x').mkdir()
    with pytest.raises(JediError, match='already exists'):
        generate(tmp_path / 'x', 'quick', log=None)
    with pytest.raises(JediError, match='unknown synth preset'):
        generate(tmp_path / 'y', 'huge', log=None)
    assert not (tmp_path / 'y').exists()


def test_four_roles_with_overlapping_semantics():
    assert [d.name for d in DATASETS] == ['kinetics_like', 'ucf_like', 'hmdb_like', 'anet_like']
    k, u, h, a = DATASETS
    assert len(k.classes) > max(len(u.classes), len(h.classes), len(a.classes))   # the large one
    assert a.metric == 'mAP' and a.domain.n_frames > k.domain.n_frames and a.action_span[1] < 1
    prims = [set(p for ps in d.classes.values() for p in ps) for d in DATASETS]
    for i in range(4):
        for j in range(4):
            if i != j:  # every pair shares some motion semantics, but no two vocabularies are equal
                assert prims[i] & prims[j]
                assert list(DATASETS[i].classes) != list(DATASETS[j].classes)
    assert PRESETS['quick'].keys() == PRESETS['demo'].keys() == {d.name for d in DATASETS}


def test_cli_synth(tmp_path, capsys):
    from jedi_repro.cli import main
    assert main(['synth', '--out', str(tmp_path / 's'), '--preset', 'quick', '--seed', '1']) == 0
    assert (tmp_path / 's' / 'benchmark.json').is_file()
    assert main(['synth', '--out', str(tmp_path / 's'), '--preset', 'quick']) == 1
    assert 'already exists' in capsys.readouterr().err


def test_fingerprint_recorded_and_follows_specs_and_counts(hmdb_pair, monkeypatch):
    from jedi_repro.data.synth import datasets as ds_mod
    from jedi_repro.data.synth.generate import fingerprint

    a, _, _ = hmdb_pair
    spec = (get_dataset('hmdb_like'),)
    bench = json.loads((a / 'benchmark.json').read_text())
    assert bench['fingerprint'] == fingerprint('quick', spec) != fingerprint('quick')
    assert fingerprint('quick') != fingerprint('demo')
    before = fingerprint('demo')
    monkeypatch.setitem(ds_mod.PRESETS['demo'], 'hmdb_like', dict(train=16, val=11, test=10))
    assert fingerprint('demo') != before  # a changed split size makes a cached data root stale
