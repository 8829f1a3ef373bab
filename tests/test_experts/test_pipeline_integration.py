"""End to end on the quick preset: render -> train four MMAction2 experts (short) -> extract -> open store."""
import json

import numpy as np
import pytest

from jedi_repro import workspace
from jedi_repro.data.feature_store import FeatureStore
from jedi_repro.experts.config import sha256_file


@pytest.mark.integration
def test_quick_pipeline_builds_a_consistent_store(tmp_path):
    from jedi_repro.experts.pipeline import build_features

    store_path = build_features('quick', seed=0, out=tmp_path / 'store', log=None)
    store = FeatureStore.open(store_path)
    assert store.dataset_names == ['kinetics_like', 'ucf_like', 'hmdb_like', 'anet_like']
    assert len(store.expert_names) == 4
    assert store.dataset('anet_like')['metric'] == 'mAP'
    summary = json.loads((workspace.work_dir('experts-quick-s0') / 'pipeline.json').read_text())
    assert summary['extract']['computed'] == 4 * 4 * 3
    for name in store.expert_names:
        own = store.expert(name)['dataset']
        for ds in store.dataset_names:
            for split in ('train', 'val', 'test'):
                f = store.features(name, ds, split)
                assert f.shape == (len(store.labels(ds, split)), store.expert(name)['dim'])
                assert np.isfinite(f).all() and np.abs(f).sum() > 0
        # The stored head on the stored features reproduces the Runner's own test accuracy of the expert.
        w, b = store.head(name)
        pred = (np.asarray(store.features(name, own, 'test')) @ w.T + b).argmax(1)
        top1 = float((pred == store.labels(own, 'test')).mean())
        assert top1 == pytest.approx(summary['experts'][name]['test']['acc/top1'], abs=1e-6)

    # Each expert's full log (the path its console line prints) holds the whole run, not only start-up.
    for name in store.expert_names:
        logs = sorted((workspace.work_dir('experts-quick-s0') / name).glob('*/*.log'))
        text = logs[-1].read_text()
        assert 'Epoch(train)' in text and 'Epoch(val)' in text, (name, len(text.splitlines()))

    # The Kinetics-like expert trains from scratch; the others start from its exported backbone, and the
    # store records the sha256 of each expert's own checkpoint.
    experts_dir = workspace.work_dir('experts-quick-s0')
    source = experts_dir / 'r3d18_kinetics_like' / 'expert.pth'
    assert summary['experts']['r3d18_kinetics_like']['init_backbone'] is None
    for name in ('r3d18_ucf_like', 'r3d18_hmdb_like', 'r3d18_anet_like'):
        init = summary['experts'][name]['init_backbone']
        assert init['source'] == 'r3d18_kinetics_like' and init['sha256'] == sha256_file(source)
        assert store.expert(name)['checkpoint_sha256'] == sha256_file(experts_dir / name / 'expert.pth')
    for ds in store.dataset_names:
        probe = summary['probe_test'][ds]
        assert 0 <= probe['own'] <= 1 and 0 <= probe['all'] <= 1 and probe['chance'] > 0

    # A second run reuses everything: no rendering, no training, every block from the cache.
    build_features('quick', seed=0, out=tmp_path / 'store', log=None)
    again = json.loads((workspace.work_dir('experts-quick-s0') / 'pipeline.json').read_text())
    assert again['extract']['computed'] == 0 and again['extract']['cached'] == 48
    assert FeatureStore.open(store_path).content_hash() == store.content_hash()
