"""`jedi demo`, the main job, end to end as a user who installed the wheel runs it: a fresh venv, an empty
directory (the workspace defaults to ./jedi_work), every stage, then the cached re-run."""
import os
import re

import pytest
from wheels import build_wheel, copy_sources, install_in_fresh_venv, run

from jedi_repro.benchmarks import demo_regime
from jedi_repro.cli.demo import STUDIES


@pytest.mark.slow
def test_quick_demo_from_a_fresh_wheel_install_end_to_end_then_cached(tmp_path):
    wheel = build_wheel(copy_sources(tmp_path / 'src'), tmp_path / 'wheels')
    venv = tmp_path / 'venv'
    site = install_in_fresh_venv(wheel, venv)
    empty = tmp_path / 'empty'
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'MLFLOW_TRACKING_URI', 'JEDI_HOME')}
    code = 'import jedi_repro.resources as r; print(r.__file__); print(r.shipped_root())'
    where = run([str(venv / 'bin' / 'python'), '-c', code], cwd=empty, env=env).split()
    assert where[0].startswith(str(site)) and where[1] == str(site / 'jedi_repro' / '.mim')  # the wheel's

    def demo(*args):
        out = run([str(venv / 'bin' / 'jedi'), 'demo', *args], cwd=empty, env=env, timeout=3000)
        assert 'jedi demo finished' in out
        return out

    console = demo('--quick')
    out = empty / 'jedi_work' / 'reports' / 'demo-quick'  # the workspace by default, never the checkout
    assert sorted(p.name for p in empty.iterdir()) == ['jedi_work']
    # quiet console: a line per epoch / trial, no mmengine stream (measured 5.6 kB; 95 kB before the change)
    assert 'mmengine - INFO' not in console and len(console) < 15_000, len(console)
    assert 'train epoch 4/4  val mean primary, %: expert' in console and 'trial-0003 fusion=logits' in console
    report = (out / 'report.md').read_text()
    assert '## Main results' in report
    assert str(empty) not in report and '$JEDI_HOME/studies/' in report  # portable paths only
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
    again = demo('--quick', '--out', str(tmp_path / 'again'))  # an explicit --out
    assert (tmp_path / 'again' / 'report.md').is_file()
    assert 'trained ' not in again
    assert 'reusing JEDI run' in again
    assert again.count('(0 workers started)') == len(STUDIES) + len(demo_regime.VARIANTS)
