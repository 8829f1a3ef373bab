"""Block verification with stamps: verify once, re-hash only what changed, fail naming the block."""
import json
import os
import time

import numpy as np
import pytest

from jedi_repro.data import store_stamps
from jedi_repro.data.feature_store import FeatureStore, FeatureStoreError
from jedi_repro.data.toy import make_toy_store

BLOCK = 'features/e0/ds1/train.npy'


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setattr(store_stamps, 'RACY_WINDOW_S', 0.0)  # the toy store was written a moment ago
    make_toy_store(tmp_path / 's', n_datasets=2, n_classes=3, dim=8, n_train=30, n_val=10, n_test=10)
    return tmp_path / 's'


def _overwrite_in_place(path):
    x = np.load(path, mmap_mode='r+')
    x[0, 0] = x[0, 0] + 1.0  # finite, same size
    x.flush()
    del x


def test_first_open_hashes_every_block_then_trusts_the_stamps(store, tmp_path):
    stamps = tmp_path / 'stamps'
    s = FeatureStore.open(store, verify=True, stamp_dir=stamps)
    n = len(s.manifest['arrays'])
    again = s.verify(stamp_dir=stamps)
    assert again.hashed == [] and len(again.stamped) == n
    assert store_stamps.values_checked(s, stamps) == set(s.manifest['arrays'])


def test_a_block_overwritten_in_place_is_refused_naming_it(store, tmp_path):
    stamps = tmp_path / 'stamps'
    FeatureStore.open(store, verify=True, stamp_dir=stamps)
    _overwrite_in_place(store / BLOCK)
    with pytest.raises(FeatureStoreError, match=BLOCK.replace('.', r'\.') + '.*sha256 differs'):
        FeatureStore.open(store, verify=True, stamp_dir=stamps)


def test_restoring_the_mtime_does_not_hide_an_edit(store, tmp_path):
    stamps = tmp_path / 'stamps'
    FeatureStore.open(store, verify=True, stamp_dir=stamps)
    st = os.stat(store / BLOCK)
    time.sleep(0.01)
    _overwrite_in_place(store / BLOCK)
    os.utime(store / BLOCK, ns=(st.st_atime_ns, st.st_mtime_ns))  # ctime still moves
    with pytest.raises(FeatureStoreError, match='sha256 differs'):
        FeatureStore.open(store, verify=True, stamp_dir=stamps)


def test_only_the_touched_block_is_rehashed(store, tmp_path):
    stamps = tmp_path / 'stamps'
    s = FeatureStore.open(store, verify=True, stamp_dir=stamps)
    os.utime(store / BLOCK)  # same bytes, new stat
    res = s.verify(stamp_dir=stamps)
    assert res.hashed == [BLOCK] and len(res.stamped) == len(s.manifest['arrays']) - 1


def test_a_read_only_store_is_verified_with_stamps_elsewhere(store, tmp_path):
    stamps = tmp_path / 'stamps'
    before = sorted(str(p) for p in store.rglob('*'))
    modes = {}
    for p in [store, *store.rglob('*')]:
        modes[p] = p.stat().st_mode
        p.chmod(modes[p] & ~0o222)
    try:
        FeatureStore.open(store, verify=True, stamp_dir=stamps)
        assert len(list(stamps.glob('*.json'))) == 1
        assert store_stamps.stamp_file(store, stamps).is_file()
        assert sorted(str(p) for p in store.rglob('*')) == before  # the store itself is never written
    finally:
        for p, m in modes.items():
            p.chmod(m)


def test_an_unwritable_stamp_dir_only_costs_time(store, tmp_path):
    blocked = tmp_path / 'a_file'  # a file where the directory should be: unwritable even for root
    blocked.write_text('x')
    s = FeatureStore.open(store, verify=True, stamp_dir=blocked / 'stamps')
    assert len(s.verify(stamp_dir=blocked / 'stamps').hashed) == len(s.manifest['arrays'])


def test_a_racy_block_is_not_stamped(store, tmp_path, monkeypatch):
    monkeypatch.setattr(store_stamps, 'RACY_WINDOW_S', 3600.0)
    s = FeatureStore.open(store, verify=True, stamp_dir=tmp_path / 'stamps')
    assert len(s.verify(stamp_dir=tmp_path / 'stamps').hashed) == len(s.manifest['arrays'])


def test_a_new_manifest_at_the_same_path_is_verified_afresh(store, tmp_path):
    stamps = tmp_path / 'stamps'
    FeatureStore.open(store, verify=True, stamp_dir=stamps)
    m = json.loads((store / 'manifest.json').read_text())
    m['arrays'][BLOCK]['sha256'] = '0' * 64
    (store / 'manifest.json').write_text(json.dumps(m))
    with pytest.raises(FeatureStoreError, match=BLOCK.replace('.', r'\.')):
        FeatureStore.open(store, verify=True, stamp_dir=stamps)
