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
        'epoch 3/150  val mean top1, %: expert 70.00  student 73.50  teacher 75.00  loss 0.500'


def test_epoch_line_prefers_the_primary_mean():
    m = {'mean/expert/top1': 0.7, 'mean/student/top1': 0.735, 'mean/expert/primary': 0.6,
         'mean/student/primary': 0.65}
    assert epoch_line(1, 2, m) == 'epoch 1/2  val mean primary, %: expert 60.00  student 65.00'


def test_epoch_line_of_a_non_jedi_run_shows_its_first_metrics():
    line = epoch_line(2, None, {'acc/top1': 0.5, 'acc/top5': 0.9, 'acc/mean1': 0.4, 'x': 1.0})
    assert line == 'epoch 2  val acc/top1 50.00 %  acc/top5 90.00 %  acc/mean1 40.00 %'
    assert epoch_line(2, None, {'loss_cls': 1.25}) == 'epoch 2  val loss_cls 1.25'  # not a fraction: as is


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
    assert 'train epoch 3/3  val mean primary, %: expert' in quiet.stdout
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


# ---- no silence longer than a minute (issue 28) ----

def test_durations_and_time_left_read_at_a_glance():
    from jedi_repro.console import duration, eta_s
    assert [duration(s) for s in (7, 75, 3725)] == ['7 s', '1 min 15 s', '1 h 02 min']
    assert eta_s(0, 10.0, 5) is None and eta_s(2, 10.0, 6) == 30.0


def test_a_long_epoch_says_where_it_is(capsys):
    from types import SimpleNamespace

    from jedi_repro.engine.hooks.console_hook import ConsoleProgressHook

    hook = ConsoleProgressHook('expert ucf_like', heartbeat_s=0.0)
    hook.bar, hook.max_epochs = object(), 30
    hook.before_train_epoch(None)
    hook._epoch_t0 -= 20.0  # 20 s into the epoch after 4 of 10 iterations
    hook.after_train_iter(SimpleNamespace(epoch=2, train_dataloader=list(range(10))), 3)
    out = capsys.readouterr().out
    assert out.startswith('  expert ucf_like epoch 3/30: iteration 4/10, 20 s into the epoch, '
                          '~30 s left in it')


def test_the_expert_stage_estimates_its_time_left():
    from pathlib import Path

    from jedi_repro.experts.pipeline import expert_stage_line

    order = [(Path(f'{n}.py'), None, None) for n in ('k', 'u', 'h')]
    work = {'k': (100, 10), 'u': (50, 10), 'h': None}
    assert expert_stage_line(1, order, work, 0.0, 0.0) == (
        'pipeline: training expert 1/3 k (100 clips x 10 epochs); time left estimated once the first expert '
        'is trained')
    # 1000 clip-epochs took 100 s: the 500 left take ~50 s (an expert without a size counts nothing)
    assert expert_stage_line(2, order, work, 1000.0, 100.0).endswith('expert stage ~50 s left')


def test_a_study_says_how_far_it_is_while_no_trial_ends():
    import optuna

    from jedi_repro.studies.runner import progress_line

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name='s')
    study.optimize(lambda t: t.suggest_float('x', 0, 1), n_trials=2)
    study.ask()  # one running
    assert progress_line(study, 2, 6, 130.0) == ('study s: 2 of 6 trials finished, 1 running, 2 min 10 s '
                                                 'elapsed, ~4 min 20 s left')
