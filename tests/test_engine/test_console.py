"""The quiet console: one short line per epoch, a bar whose end follows the plateau rule, and a size."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jedi_repro.engine.hooks.console_hook import epoch_line, expected_last_epoch

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'mm_configs' / 'jedi' / 'jedi_default.py'


def test_epoch_line_shows_the_mean_top1_of_each_role():
    m = {'mean/expert/top1': 0.7, 'mean/student/top1': 0.735, 'mean/teacher/top1': 0.75,
         'ds0/student/top1': 0.1, 'mean/student/top5': 0.9}
    assert epoch_line(3, 150, m, loss=0.5) == \
        'epoch 3/150  val mean top1: expert 70.0  student 73.5  teacher 75.0  loss 0.500'


def test_epoch_line_prefers_the_primary_mean():
    m = {'mean/expert/top1': 0.7, 'mean/student/top1': 0.735, 'mean/expert/primary': 0.6,
         'mean/student/primary': 0.65}
    assert epoch_line(1, 2, m) == 'epoch 1/2  val mean primary: expert 60.0  student 65.0'


def test_epoch_line_of_a_non_jedi_run_shows_its_first_metrics():
    line = epoch_line(2, None, {'acc/top1': 0.5, 'acc/top5': 0.9, 'acc/mean1': 0.4, 'x': 1.0})
    assert line == 'epoch 2  val acc/top1 0.5  acc/top5 0.9  acc/mean1 0.4'


def test_expected_last_epoch_follows_the_latest_best_epoch_of_any_monitor():
    hist = [(1, {'s': 0.5, 't': 0.1}), (2, {'s': 0.6, 't': 0.1}), (3, {'s': 0.55, 't': 0.3})]
    assert expected_last_epoch(hist, ['s', 't'], patience=10, cap=150) == 13
    assert expected_last_epoch(hist, ['s'], patience=10, cap=150) == 12
    assert expected_last_epoch(hist, ['s', 't'], patience=10, cap=5) == 5
    assert expected_last_epoch([], ['s'], patience=10, cap=150) == 10


def _jedi_train(tmp_path, *flags):
    from jedi_repro.data.toy import make_toy_store
    store = tmp_path / 'store'
    if not store.exists():
        make_toy_store(store, n_datasets=2, n_classes=3, dim=8, n_train=40, n_val=20, n_test=20)
    wd = tmp_path / f'wd{len(flags)}'
    env = {**os.environ, 'PYTHONPATH': str(REPO), 'OMP_NUM_THREADS': '1'}
    env.pop('JEDI_VERBOSE', None)
    proc = subprocess.run([sys.executable, '-m', 'jedi_repro.cli', *flags, 'train', str(CONFIG), '--features',
                           str(store), '--work-dir', str(wd), '--cfg-options', 'train_cfg.max_epochs=3',
                           '--no-reuse'],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, wd


@pytest.mark.integration
def test_jedi_train_is_quiet_by_default_and_streams_mmengine_with_verbose(tmp_path):
    quiet, wd = _jedi_train(tmp_path)
    out = quiet.stdout + quiet.stderr
    # measured: about 650 bytes of stdout and 700 of (non-tty) progress bar; mmengine's stream is 23 kB
    assert len(quiet.stdout.splitlines()) <= 12 and len(out) < 3000, out
    assert 'mmengine - INFO' not in out and 'Loads checkpoint' not in out
    assert 'mlflow.store.db.utils' not in out
    assert 'train epoch 3/3  val mean primary: expert' in quiet.stdout
    logs = list(wd.glob('*/*.log'))
    assert len(logs) == 1 and f'full log {logs[0]}' in quiet.stdout
    assert 'Hooks will be executed in the following order' in logs[0].read_text()  # the file keeps all

    loud, _ = _jedi_train(tmp_path, '-v')
    assert 'mmengine - INFO' in loud.stdout and 'Hooks will be executed' in loud.stdout
    assert len(loud.stdout) > 5 * len(out)


@pytest.mark.parametrize('argv, verbose', [
    (['-v', 'train', 'c.py', '--features', 's', '--work-dir', 'w'], True),
    (['train', 'c.py', '--features', 's', '--work-dir', 'w', '--verbose'], True),
    (['train', 'c.py', '--features', 's', '--work-dir', 'w'], False),
    (['study', 'run', 'spec.yaml', '-v'], True),
    (['experts', 'train', 'c.py', '-v'], True),
])
def test_verbose_flag_on_jedi_and_on_every_subcommand(argv, verbose):
    from jedi_repro.cli import build_parser
    assert build_parser().parse_args(argv).verbose is verbose


def test_set_verbose_reaches_subprocesses_through_the_environment(monkeypatch):
    from jedi_repro import console
    monkeypatch.setenv('MLFLOW_LOGGING_LEVEL', 'WARNING')  # restored afterwards, as is JEDI_VERBOSE
    console.set_verbose(True)
    assert os.environ[console.VERBOSE_ENV] == '1' and console.verbose()
    console.set_verbose(False)
    assert not console.verbose()
    from mmengine.runner import Runner
    assert console.runner_class() is not Runner and issubclass(console.runner_class(), Runner)
    monkeypatch.setenv(console.VERBOSE_ENV, '1')
    assert console.runner_class() is Runner
