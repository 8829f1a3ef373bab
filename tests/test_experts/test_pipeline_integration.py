"""End to end on the quick preset: render -> train four MMAction2 experts (short) -> extract -> open store;
built twice, by processes given 1 and 2 intra-op threads, which must give the same store bit for bit (the
expert stage runs at its own fixed thread count: README, "Protocol")."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from jedi_repro.data.feature_store import FeatureStore
from jedi_repro.experts.config import sha256_file

_BUILD = """
import json, sys
from jedi_repro.experts.pipeline import build_features
from jedi_repro.data.feature_store import FeatureStore
root, experts, out = sys.argv[1:4]
path = build_features('quick', seed=0, data_root=root, experts_dir=experts, out=out, log=None)
store = FeatureStore.open(path)
print(json.dumps(dict(hashes={k: v['sha256'] for k, v in store.manifest['arrays'].items()})))
"""


def _build(tmp_path, threads: int) -> dict:
    """The quick store built by a process given ``threads`` intra-op threads; its arrays' sha256."""
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads), 'MKL_NUM_THREADS': str(threads),
           'JEDI_HOME': str(tmp_path / 'ws')}
    env.pop('JEDI_EXPERT_THREADS', None)
    args = [tmp_path / 'root', tmp_path / f'experts{threads}', tmp_path / f'store{threads}']
    done = subprocess.run([sys.executable, '-c', _BUILD, *map(str, args)], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])['hashes']


@pytest.mark.integration
def test_quick_pipeline_builds_a_consistent_store_under_1_and_2_threads(tmp_path):
    hashes = [_build(tmp_path, threads) for threads in (1, 2)]
    # every feature block and expert head bitwise the same
    assert hashes[0] == hashes[1] and len(hashes[0]) > 10

    experts_dir, store_path = tmp_path / 'experts2', tmp_path / 'store2'
    store = FeatureStore.open(store_path)
    assert store.dataset_names == ['kinetics_like', 'ucf_like', 'hmdb_like', 'anet_like']
    assert len(store.expert_names) == 4
    assert store.dataset('anet_like')['metric'] == 'mAP'
    summary = json.loads((experts_dir / 'pipeline.json').read_text())
    assert summary['threads'] == 2  # the stage's own count, not the process's
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
        logs = sorted((experts_dir / name).glob('*/*.log'))
        text = logs[-1].read_text()
        assert 'Epoch(train)' in text and 'Epoch(val)' in text, (name, len(text.splitlines()))

    # The Kinetics-like expert trains from scratch; the others start from its exported backbone, and the
    # store records the sha256 of each expert's own checkpoint.
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
    assert _build(tmp_path, 2) == hashes[1]
    again = json.loads((experts_dir / 'pipeline.json').read_text())
    assert again['extract']['computed'] == 0 and again['extract']['cached'] == 48
