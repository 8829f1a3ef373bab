"""Same command, same numbers under 1 and 2 intra-op threads.

JEDI training (linear layers, the demo's sizes) is bitwise thread-count independent on CPU; the expert stage
(3D convolutions) is not (the quick demo's first expert: loss 2.778 at 1 thread, 2.779 at 2), so it runs at
a thread count fixed by configuration (``EXPERT_STAGE_THREADS``) whatever the process was given (README,
"Protocol"; tests/test_experts/test_pipeline_integration.py builds the quick store under 1 and 2 threads).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
CONFIG = Path(__file__).resolve().parents[2] / 'mm_configs' / 'jedi' / 'jedi_default.py'


def _train(store, work_dir, threads: int, home) -> dict:
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads), 'MKL_NUM_THREADS': str(threads),
           'JEDI_HOME': str(home)}
    cmd = [sys.executable, '-m', 'jedi_repro.cli', 'train', str(CONFIG), '--features', str(store),
           '--work-dir', str(work_dir), '--no-mlflow', '--no-reuse',
           '--cfg-options', 'train_cfg.max_epochs=3']
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((Path(work_dir) / 'metrics.json').read_text())


def test_jedi_train_is_independent_of_the_thread_count(tmp_path):
    from jedi_repro.data.toy import make_toy_store

    store = tmp_path / 'store'
    make_toy_store(store, n_datasets=3, n_classes=5, dim=64, n_train=120, n_val=40, n_test=40,
                   map_datasets=('ds2',))
    one = _train(store, tmp_path / 't1', 1, tmp_path / 'ws')
    two = _train(store, tmp_path / 't2', 2, tmp_path / 'ws')
    for block in ('datasets', 'mean', 'val', 'selection'):
        assert one[block] == two[block], block
    assert one['convergence']['curves'] == two['convergence']['curves']
    assert one['runtime']['threads'] == 1 and two['runtime']['threads'] == 2  # what each run used, recorded
