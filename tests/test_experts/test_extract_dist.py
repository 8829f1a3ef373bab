"""``jedi extract --launcher pytorch`` under torchrun with 2 CPU processes (real experts, real videos)."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from jedi_repro.data.feature_store import FeatureStore
from jedi_repro.experts.extract import ExpertSpec, extract
from jedi_repro.experts.extract_dist import parts_dir_for

REPO = Path(__file__).resolve().parents[2]


def _port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _torchrun(script_args, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1', JEDI_HOME=str(tmp_path / 'home'))
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr',
           '127.0.0.1', '--master_port', str(_port()), *script_args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.integration
def test_two_processes_write_the_one_process_store(tiny_root, untrained_expert, tmp_path):
    import torch
    config, ckpt = untrained_expert
    # one thread, as each rank runs (OMP_NUM_THREADS=1): float sums over another number of threads round
    # differently, and the content hash compares bytes
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = extract(tiny_root, tmp_path / 'one', experts=[ExpertSpec(config, ckpt)], use_cache=False,
                      show_progress=False, log=None)
    finally:
        torch.set_num_threads(threads)
    assert one['computed'] == 3
    expected = FeatureStore.open(tmp_path / 'one').content_hash()
    out = tmp_path / 'two'
    args = ['extract', '--data-root', str(tiny_root), '--experts', f'{config}={ckpt}', '--out', str(out),
            '--launcher', 'pytorch']

    # rank 1 computes its block, then dies before the merge: no store, its part stays
    crashed = _torchrun([str(REPO / 'tests' / 'test_experts' / 'crash_rank1.py'), *args], tmp_path)
    assert crashed.returncode != 0
    assert not out.exists()
    assert list(parts_dir_for(out).glob('*.npy'))

    rerun = _torchrun(['-m', 'jedi_repro.cli', *args], tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    log = rerun.stdout + rerun.stderr
    assert 'extract rank 1/2: 1 of 3 blocks (0 computed, 1 finished before)' in log  # reused
    store = FeatureStore.open(out, verify_hashes=True)
    assert store.content_hash() == expected
    assert not parts_dir_for(out).exists()
