"""benchmarks/gpu_bench.py --quick: the GPU benchmark's CPU smoke run (fields only, never timings)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_gpu_bench_quick_prints_every_figure(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1', JEDI_HOME=str(tmp_path / 'ws'))
    cmd = [sys.executable, str(REPO / 'benchmarks' / 'gpu_bench.py'), '--quick', '--workers', '1',
           '--out', str(tmp_path / 'lines.jsonl')]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [json.loads(x) for x in out.stdout.splitlines() if x.startswith('{')]
    assert [json.loads(x) for x in (tmp_path / 'lines.jsonl').read_text().splitlines()] == lines
    by = {}
    for line in lines:
        by.setdefault(line['bench'], []).append(line)
    assert by['env'][0]['device'] in ('cpu', 'cuda') and by['env'][0]['torch']
    assert sorted(x['dtype'] for x in by['matmul_peak']) == ['bf16', 'fp32']
    assert all(x['gflops'] > 0 for x in by['matmul_peak'])
    train = {x['precision']: x for x in by['train_precision']}
    assert set(train) == {'fp32', 'bf16'} and train['fp32']['ratio_vs_fp32'] == 1.0
    for x in train.values():
        assert x['samples_per_s'] > 0 and x['fraction_of_matmul_peak'] > 0 and x['steps_timed'] >= 1
        assert x['inputs']['classes'] and x['machine']
    ext = {x['workers']: x for x in by['extract_tsn_r50']}
    assert set(ext) == {0, 1}
    for x in ext.values():
        assert x['clips'] > 0 and x['clips_per_s'] > 0 and x['forward_s'] > 0 and x['decode_wait_s'] > 0
        assert x['decode_wait_s'] + x['forward_s'] <= x['wall_s']
