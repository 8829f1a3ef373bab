"""Finished seed runs are reused across studies (the demo's fusion `concat` trial = gamma 0.4 trial)."""
import json
from pathlib import Path

import pytest

from jedi_repro.studies.spec import load_spec
from jedi_repro.studies.storage import storage_url
from jedi_repro.studies.worker import run_worker
from jedi_repro.tracking.client import RetryingClient

from .conftest import write_spec
from .test_objective import _prepare


def _seed_runs(client, study):
    exp = client.get_experiment_by_name(study)
    runs = client.search_runs([exp.experiment_id], "tags.`jedi.role` = 'seed'")
    # run names say what varies: 'trial-0000 fusion=concat seed=0'
    return {(r.info.run_name.split()[1].split('=')[1], r.data.tags['jedi.seed']): r for r in runs}


def _run(tmp_path, store, stub_path, name, space, reuse=True):
    spec_path = write_spec(tmp_path, store, f'name: {name}\nseeds: [0, 1]\nspace:\n{space}'
                           'sampler: grid\nobjective: mean/student/top1\n', name=name)
    spec, _, _ = _prepare(spec_path)
    assert run_worker(str(spec_path), storage_url(load_spec(spec_path)), train_fn=stub_path, reuse=reuse) == 2
    return spec


@pytest.mark.integration
def test_a_trial_with_the_config_of_an_earlier_study_reuses_its_seed_runs(tmp_path, toy_store, stub_path,
                                                                         monkeypatch):
    monkeypatch.setenv('JEDI_STUB_COMPLETE', '1')
    _run(tmp_path, toy_store, stub_path, 'gamma', '  model.gamma: [0.0, 0.4]\n')
    _run(tmp_path, toy_store, stub_path, 'fusion', '  model.fusion.type: [concat, mean]\n')
    client = RetryingClient()
    gamma_runs = _seed_runs(client, 'gamma')
    fusion_runs = _seed_runs(client, 'fusion')
    assert not any(r.data.tags.get('jedi.reused') for r in gamma_runs.values())
    reused = {k: r for k, r in fusion_runs.items() if r.data.tags.get('jedi.reused') == 'true'}
    # concat with gamma 0.4 (the default) is the gamma study's 0.4 trial: both seeds adopted, linked
    assert sorted(reused) == [('concat', '0'), ('concat', '1')]
    for (_, seed), run in reused.items():
        original = gamma_runs[('0.4', seed)]
        assert run.data.tags['jedi.reused_from'] == original.info.run_id
        assert f'runs/{original.info.run_id})' in run.data.tags['mlflow.note.content']  # a link in the UI
        assert run.info.status == 'FINISHED' and run.data.tags['jedi.state'] == 'COMPLETE'
        assert run.data.metrics['val/mean/student/top1'] == original.data.metrics['val/mean/student/top1']
        copied = client.get_metric_history(run.info.run_id, 'val_epoch/mean/student/top1')
        assert len(copied) == 2  # the original's per-epoch curve (2 stub epochs)
        local = json.loads(Path(run.data.tags['jedi.work_dir'], 'metrics.json').read_text())
        assert local['reused_from']['run_id'] == original.info.run_id
    assert fusion_runs[('mean', '0')].data.tags.get('jedi.reused') is None  # a new config is trained

    # --no-reuse trains everything again
    _run(tmp_path, toy_store, stub_path, 'fusion_again', '  model.fusion.type: [concat, mean]\n', reuse=False)
    assert not any(r.data.tags.get('jedi.reused') for r in _seed_runs(client, 'fusion_again').values())


@pytest.mark.integration
def test_incomplete_runs_are_not_reused(tmp_path, toy_store, stub_path, monkeypatch):
    monkeypatch.delenv('JEDI_STUB_COMPLETE', raising=False)  # no convergence record: not reusable
    _run(tmp_path, toy_store, stub_path, 'gamma', '  model.gamma: [0.0, 0.4]\n')
    _run(tmp_path, toy_store, stub_path, 'fusion', '  model.fusion.type: [concat, mean]\n')
    assert not any(r.data.tags.get('jedi.reused') for r in _seed_runs(RetryingClient(), 'fusion').values())


def test_no_reuse_reaches_the_worker_command(tmp_path, monkeypatch):
    from jedi_repro.studies import runner
    seen = []
    monkeypatch.setattr(runner.subprocess, 'Popen', lambda cmd, **kw: seen.append(cmd))
    spec = type('Spec', (), {'path': tmp_path / 's.yaml'})()
    for reuse in (True, False):
        runner._spawn(spec, 'journal', 0, None, None, 'm:f', tmp_path, reuse=reuse)
    assert '--no-reuse' not in seen[0] and seen[1][-1] == '--no-reuse'
    from jedi_repro.studies.worker import main
    monkeypatch.setattr('jedi_repro.studies.worker.run_worker', lambda *a, **kw: seen.append(kw) or 0)
    assert main(['--spec', 's', '--storage', 'j', '--no-reuse']) == 0 and seen[-1]['reuse'] is False
