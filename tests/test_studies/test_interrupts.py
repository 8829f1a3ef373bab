"""Ctrl-C, a second Ctrl-C, a killed runner and concurrent first runs, with real processes.

The runner is started as `jedi study run` in its own process group, as a shell starts a foreground job, and
signalled like a terminal does (the whole group). Workers write their pid into JEDI_STUB_MARK_DIR when a
seed starts, so the test knows they are mid-trial and can check that none is left afterwards.
"""
import json
import os
import signal
from collections import Counter
from pathlib import Path

import pytest
from optuna.trial import TrialState
from procs import jedi, kill_group, wait_for

from jedi_repro import processes
from jedi_repro.studies import recovery
from jedi_repro.studies.spec import load_spec
from jedi_repro.studies.storage import load_study, storage_url
from jedi_repro.tracking.client import RetryingClient

from .conftest import write_spec

pytestmark = pytest.mark.integration
POINTS = [0.0, 0.2, 0.4]


@pytest.fixture
def study(tmp_path, toy_store, stub_path, monkeypatch):
    marks = tmp_path / 'marks'
    marks.mkdir()
    monkeypatch.setenv('JEDI_STUB_MARK_DIR', str(marks))
    spec = write_spec(tmp_path, toy_store, f'name: stopme\nseeds: [0, 1]\nspace:\n  model.gamma: {POINTS}\n'
                      'sampler: grid\nobjective: mean/teacher/top1\n'
                      'cfg_options:\n  train_cfg.max_epochs: 4\n')
    return spec, marks


def _start(spec, tmp_path, name, sleep_s='0.5'):
    return jedi(['study', 'run', spec, '--workers', '2', '--train-fn', 'stub_train:train', '--no-progress'],
                tmp_path / f'{name}.log', env={'JEDI_STUB_SLEEP_S': sleep_s})


def _worker_pids(marks: Path) -> set[int]:
    return {int(p.name) for p in marks.iterdir()}


def _alive(pid: int) -> bool:
    return processes.process_alive(pid, '') and Path(f'/proc/{pid}/stat').read_text().split()[2] != 'Z'


def _final_state(spec_path):
    spec = load_spec(spec_path)
    study = load_study(spec, storage_url(spec))
    client = RetryingClient()
    exp = client.get_experiment_by_name(spec.name)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    return study, runs


def _rerun_completes_every_point_once(spec, tmp_path):
    p = _start(spec, tmp_path, 'rerun', sleep_s='0')
    assert p.wait(timeout=300) == 0, (tmp_path / 'rerun.log').read_text()[-3000:]
    study, runs = _final_state(spec)
    complete = Counter(t.params['model.gamma'] for t in study.trials if t.state == TrialState.COMPLETE)
    assert complete == Counter(POINTS)
    assert not [r for r in runs if r.info.status == 'RUNNING']
    return study, runs


def test_ctrl_c_stops_the_study_cleanly_and_a_rerun_finishes_it(study, tmp_path):
    spec, marks = study
    p = _start(spec, tmp_path, 'first')
    try:
        wait_for(lambda: len(_worker_pids(marks)) >= 2, what='both workers mid-trial', proc=p)
        os.killpg(p.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        assert p.wait(timeout=60) == 130
    finally:
        kill_group(p)
    log = (tmp_path / 'first.log').read_text()
    assert 'Traceback' not in log and 'interrupted' in log, log[-3000:]
    wait_for(lambda: not any(_alive(pid) for pid in _worker_pids(marks)), 10, 'no worker left')
    study_, runs = _final_state(spec)
    assert not study_.get_trials(states=(TrialState.RUNNING,))
    interrupted = [t for t in study_.trials if t.user_attrs.get(recovery.INTERRUPTED_ATTR)]
    assert len(interrupted) == 2 and all(t.state == TrialState.FAIL for t in interrupted)
    assert not [r for r in runs if r.info.status == 'RUNNING']
    parent = [r for r in runs if r.data.tags['jedi.role'] == 'study'][0]
    assert parent.info.status == 'KILLED'
    stopped = [r for r in runs if r.data.tags.get('jedi.state') == 'INTERRUPTED']
    assert stopped and all(r.info.status == 'KILLED' for r in stopped)
    study_, _ = _rerun_completes_every_point_once(spec, tmp_path)
    # the interrupted points ran again without using their one retry
    assert not [t for t in study_.trials if t.user_attrs.get(recovery.STALE_ATTR)]


def test_second_ctrl_c_kills_the_workers_and_nothing_stays_running(study, tmp_path):
    spec, marks = study
    p = _start(spec, tmp_path, 'first', sleep_s='3')
    try:
        wait_for(lambda: len(_worker_pids(marks)) >= 2, what='both workers mid-trial', proc=p)
        os.killpg(p.pid, signal.SIGINT)
        wait_for(lambda: 'Ctrl-C again' in (tmp_path / 'first.log').read_text(), 20, 'the stop message')
        os.killpg(p.pid, signal.SIGINT)
        assert p.wait(timeout=60) == 130
    finally:
        kill_group(p)
    wait_for(lambda: not any(_alive(pid) for pid in _worker_pids(marks)), 10, 'no worker left')
    study_, runs = _final_state(spec)
    assert not study_.get_trials(states=(TrialState.RUNNING,))
    assert not [r for r in runs if r.info.status == 'RUNNING']
    _rerun_completes_every_point_once(spec, tmp_path)


def test_killed_runner_leaves_no_orphan_workers(study, tmp_path):
    spec, marks = study
    p = _start(spec, tmp_path, 'first', sleep_s='2')
    try:
        wait_for(lambda: len(_worker_pids(marks)) >= 2, what='both workers mid-trial', proc=p)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        kill_group(p)
    # the workers get SIGTERM when their runner dies, close their trials and exit
    wait_for(lambda: not any(_alive(pid) for pid in _worker_pids(marks)), 30, 'the orphaned workers to exit')
    study_, runs = _final_state(spec)
    assert not study_.get_trials(states=(TrialState.RUNNING,))  # closed as interrupted by the workers
    parent = [r for r in runs if r.data.tags['jedi.role'] == 'study'][0]
    assert parent.info.status == 'RUNNING'  # its process was SIGKILLed: closed by the next stage's sweep
    _, runs = _rerun_completes_every_point_once(spec, tmp_path)
    assert [r for r in runs if r.data.tags['jedi.role'] == 'study'][0].info.status == 'FINISHED'


def test_two_first_trains_at_once_on_a_fresh_workspace(tmp_path, toy_store, monkeypatch):
    monkeypatch.setenv('JEDI_HOME', str(tmp_path / 'fresh'))
    config = Path(__file__).resolve().parents[2] / 'mm_configs' / 'jedi' / 'jedi_default.py'
    procs = [jedi(['train', config, '--features', toy_store, '--work-dir', tmp_path / f'wd{i}',
                   '--cfg-options', 'train_cfg.max_epochs=2'], tmp_path / f'train{i}.log') for i in range(2)]
    try:
        codes = [p.wait(timeout=300) for p in procs]
    finally:
        for p in procs:
            kill_group(p)
    assert codes == [0, 0], [(tmp_path / f'train{i}.log').read_text()[-2000:] for i in range(2)]
    client = RetryingClient()
    runs = client.search_runs([client.get_experiment_by_name('jedi-train').experiment_id])
    assert sorted(r.info.status for r in runs) == ['FINISHED', 'FINISHED']
    ids = {json.loads((tmp_path / f'wd{i}' / 'mlflow_run.json').read_text())['run_id'] for i in range(2)}
    assert ids == {r.info.run_id for r in runs}
