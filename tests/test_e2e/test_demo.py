"""`jedi demo`, the main job, end to end in a fresh workspace: every stage, then the cached re-run."""
import os
import re
import subprocess
import sys

import pytest

from jedi_repro.benchmarks import demo_regime
from jedi_repro.cli.demo import STUDIES


def _demo(tmp_path, *args):
    env = {**os.environ, 'JEDI_HOME': str(tmp_path / 'ws')}
    env.pop('MLFLOW_TRACKING_URI', None)
    done = subprocess.run([sys.executable, '-m', 'jedi_repro.cli', 'demo', *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=3000)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'jedi demo finished' in done.stdout
    return done.stdout


@pytest.mark.slow
def test_quick_demo_end_to_end_then_cached(tmp_path):
    console = _demo(tmp_path, '--quick')
    out = tmp_path / 'ws' / 'reports' / 'demo-quick'  # the workspace by default, never the checkout
    assert sorted(p.name for p in tmp_path.iterdir()) == ['ws']
    # quiet console: a line per epoch / trial, no mmengine stream (measured 5.6 kB; 95 kB before the change)
    assert 'mmengine - INFO' not in console and len(console) < 15_000, len(console)
    assert 'train epoch 4/4  val mean primary, %: expert' in console and 'trial-0003 fusion=logits' in console
    report = (out / 'report.md').read_text()
    assert '## Main results' in report
    assert str(tmp_path) not in report and '$JEDI_HOME/studies/' in report  # portable paths only
    # the paper-shaped table: expert, student, teacher rows, a cell per dataset (4) and the mean
    for row in ('JEDI student', 'JEDI teacher'):
        line = next(r for r in report.splitlines() if r.startswith(f'| {row}'))
        assert len(re.findall(r'\d+\.\d\d ± \d+\.\d\d \(2\)', line)) == 5, line
    # one frozen expert per dataset serves both seeds: no "± 0.00" claiming a measured spread
    line = next(r for r in report.splitlines() if r.startswith('| expert (baseline)'))
    assert len(re.findall(r'\d+\.\d\d \(one expert\)', line)) == 5, line
    # the baselines beside JEDI, the selection protocol, convergence and the probes of what students see
    for row in ('student, gamma = 0 (baseline)', 'student fine-tuning only (baseline)'):
        assert any(r.startswith(f'| {row}') for r in report.splitlines()), row
    assert 'Protocol: every choice' in report
    assert 'Convergence: all' in report or '**Not converged**' in report  # --quick caps at 4 epochs
    assert '## What the students can see' in report
    # JEDI's target regime beside the benchmark: JEDI, gamma=0 and student-only, paired deltas
    assert '## Where distillation can help' in report
    assert '| JEDI - gamma=0 (what distillation adds) |' in report
    assert (out / 'figures' / 'learning_curves.png').stat().st_size > 1000
    assert (out / 'tables' / 'main.csv').is_file()

    # a second run reuses every stage: no expert retrained, no JEDI run or trial repeated
    again = _demo(tmp_path, '--quick', '--out', str(tmp_path / 'again'))  # an explicit --out
    assert (tmp_path / 'again' / 'report.md').is_file()
    assert 'trained ' not in again
    assert 'reusing JEDI run' in again
    assert again.count('(0 workers started)') == len(STUDIES) + len(demo_regime.VARIANTS)
