"""Studies end to end: parallel workers on one journal, MLflow nesting, SIGKILL recovery."""
import os
import signal
import threading
import time
from collections import Counter

import pytest
from optuna.trial import TrialState

from jedi_repro.errors import JediError
from jedi_repro.studies import recovery
from jedi_repro.studies.runner import run_study, study_status
from jedi_repro.studies.spec import load_spec
from jedi_repro.studies.storage import load_study, storage_url
from jedi_repro.tracking.client import RetryingClient

from .conftest import write_spec

pytestmark = pytest.mark.integration
REPO_CONFIG = os.path.join(os.path.dirname(__file__), '..', '..', 'mm_configs', 'jedi', 'jedi_default.py')


def _runs(study_name):
    client = RetryingClient()
    exp = client.get_experiment_by_name(study_name)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    return client, {r.info.run_id: r for r in runs}


def _check_nesting(study_name, points, seeds):
    """Each point x seed is exactly one FINISHED seed run under a FINISHED trial under the parent."""
    client, runs = _runs(study_name)
    roles = Counter(r.data.tags['jedi.role'] for r in runs.values())
    parents = [r for r in runs.values() if r.data.tags['jedi.role'] == 'study']
    assert len(parents) == 1
    parent = parents[0].info.run_id
    seen = Counter()
    for r in runs.values():
        if r.data.tags['jedi.role'] != 'seed' or r.info.status != 'FINISHED':
            continue
        trial = runs[r.data.tags['mlflow.parentRunId']]
        assert trial.data.tags['jedi.role'] == 'trial' and trial.info.status == 'FINISHED'
        assert trial.data.tags['mlflow.parentRunId'] == parent
        assert r.data.tags['jedi.trial'] == trial.data.tags['jedi.trial']
        assert r.data.tags['jedi.features_hash'] not in ('', 'unknown') and r.data.tags['jedi.git_sha']
        assert any(k.startswith('val/mean/') for k in r.data.metrics)
        assert any(k.startswith('test/mean/') for k in r.data.metrics)
        assert {a.path for a in client.list_artifacts(r.info.run_id)} >= {'config.py', 'metrics.json'}
        seen[(trial.data.params['model.gamma'], int(r.data.tags['jedi.seed']))] += 1
    assert seen == Counter({(str(g), s): 1 for g in points for s in seeds})
    return runs, roles


def test_grid_two_workers_two_seeds_real_train(tmp_path, toy_store, capsys):
    """The real train() on a tiny store: 2 gamma points x 2 seeds over 2 worker processes."""
    spec = tmp_path / 'grid.yaml'
    spec.write_text(f'name: grid2\nbase_config: {os.path.abspath(REPO_CONFIG)}\nfeatures: {toy_store}\n'
                    'seeds: [0, 1]\ncfg_options: {train_cfg.max_epochs: 2}\n'
                    'space:\n  model.gamma: [0.0, 0.4]\nsampler: grid\n'
                    'objective: {metric: mean/student/top1, direction: maximize}\n')
    summary = run_study(spec, workers=2, progress=False)
    assert summary['counts'] == {'COMPLETE': 2} and summary['worker_exit_codes'] == [0, 0]
    # the console: one line per finished trial; mmengine's stream stays in the workers' log files
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if 'complete' in ln]
    assert len(lines) == 2, out
    assert all('val/mean/student/top1 ' in ln and ' %  val mean primary, %: expert ' in ln
               for ln in lines), out
    assert sorted(ln.split('  ')[1] for ln in lines) == ['trial-0000 gamma=0', 'trial-0001 gamma=0.4'], out
    assert 'mmengine' not in out and len(out) < 2000, out
    # no pruner, yet every epoch's validation objective is an intermediate value (dashboard curves)
    for t in load_study(load_spec(spec), storage_url(load_spec(spec))).get_trials():
        assert sorted(t.intermediate_values) == [1, 2, 100_001, 100_002], t.intermediate_values
    runs, roles = _check_nesting('grid2', [0.0, 0.4], [0, 1])
    assert roles == Counter({'study': 1, 'trial': 2, 'seed': 4})
    trial = next(r for r in runs.values() if r.data.tags['jedi.role'] == 'trial')
    assert {'test/mean/student/top1', 'std/test/mean/student/top1'} <= set(trial.data.metrics)
    logs = ''.join(p.read_text() for p in (tmp_path / 'jedi_work' / 'studies' / 'grid2' / 'logs').iterdir())
    assert 'locked' not in logs.lower() and 'Traceback' not in logs
    assert 'mmengine - INFO' in logs
    # Re-running a finished grid study runs nothing more.
    again = run_study(spec, workers=2, progress=False)
    assert again['counts'] == {'COMPLETE': 2} and again['worker_exit_codes'] == []
    assert '2/2 points done' in study_status(spec)


def test_sigkill_worker_then_rerun_completes_grid(tmp_path, toy_store, stub_path, monkeypatch):
    marks = tmp_path / 'marks'
    marks.mkdir()
    monkeypatch.setenv('JEDI_STUB_MARK_DIR', str(marks))
    monkeypatch.setenv('JEDI_STUB_SLEEP_S', '0.7')
    points = [0.0, 0.2, 0.4]
    spec_path = write_spec(tmp_path, toy_store, 'name: killme\nseeds: [0, 1]\nspace:\n  model.gamma: '
                           f'{points}\nsampler: grid\nobjective: mean/teacher/top1\n')
    result = {}

    def first_run():
        try:
            result['summary'] = run_study(spec_path, workers=2, train_fn=stub_path, progress=False)
        except JediError as exc:
            result['error'] = str(exc)

    thread = threading.Thread(target=first_run)
    thread.start()
    deadline = time.time() + 120
    while not any(marks.iterdir()) and time.time() < deadline:
        time.sleep(0.1)
    victim = int(next(marks.iterdir()).name)
    os.kill(victim, signal.SIGKILL)
    thread.join(timeout=180)
    assert 'killed by signal 9' in result.get('error', ''), result

    spec = load_spec(spec_path)
    study = load_study(spec, storage_url(spec))
    running = study.get_trials(states=(TrialState.RUNNING,))
    assert len(running) == 1  # the killed worker's trial, left RUNNING
    killed = running[0].number

    monkeypatch.delenv('JEDI_STUB_SLEEP_S')
    summary = run_study(spec_path, workers=2, train_fn=stub_path, progress=False)
    assert summary['worker_exit_codes'] == [0, 0]
    study = load_study(spec, storage_url(spec))
    trials = study.get_trials()
    assert study.trials[killed].state == TrialState.FAIL
    assert study.trials[killed].user_attrs[recovery.STALE_ATTR] is True
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert sorted(t.params['model.gamma'] for t in complete) == points  # none duplicated, none lost
    assert len(trials) == len(points) + 1
    runs, _ = _check_nesting('killme', points, [0, 1])
    dead_run = runs[study.trials[killed].user_attrs[recovery.RUN_ATTR]]
    assert dead_run.info.status == 'FAILED' and dead_run.data.tags['jedi.state'] == 'STALE'
    assert all(r.info.status == 'FAILED' for r in runs.values()
               if r.data.tags.get('mlflow.parentRunId') == dead_run.info.run_id)
    assert not [r for r in runs.values() if r.info.status == 'RUNNING']
