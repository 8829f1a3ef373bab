"""Trial outcomes in Optuna and MLflow, with workers run in this process (no subprocess start-up)."""
import pytest
from optuna.trial import TrialState

from jedi_repro.studies.objective import objective_value
from jedi_repro.studies.runner import prepare, study_status
from jedi_repro.studies.spec import load_spec
from jedi_repro.studies.storage import storage_url
from jedi_repro.studies.worker import run_worker
from jedi_repro.tracking.client import RetryingClient

from .conftest import write_spec


def test_objective_value_reads_the_contract():
    metrics = {'datasets': {'ds0': {'student': {'top1': 0.5}}}, 'mean': {'teacher': {'mAP': 0.25}}}
    assert objective_value(metrics, 'ds0/student/top1') == 0.5
    assert objective_value(metrics, 'mean/teacher/mAP') == 0.25
    from jedi_repro.errors import JediError
    with pytest.raises(JediError, match='ds9/student/top1'):
        objective_value(metrics, 'ds9/student/top1')
    with pytest.raises(JediError, match='not finite'):
        objective_value({'mean': {'teacher': {'top1': float('nan')}}}, 'mean/teacher/top1')


def _prepare(spec_path):
    spec = load_spec(spec_path)
    client = RetryingClient()
    study = prepare(spec, storage_url(spec), client)
    return spec, client, study


@pytest.mark.integration
def test_failed_trial_ends_runs_failed_and_is_retried_once(tmp_path, toy_store, stub_path, monkeypatch):
    monkeypatch.setenv('JEDI_STUB_FAIL_GAMMA', '0.4')
    spec_path = write_spec(tmp_path, toy_store, 'name: failing\nseeds: [0, 1]\n'
                           'space:\n  model.gamma: [0.0, 0.4]\n'
                           'sampler: grid\nobjective: mean/student/top1\n')
    spec, client, study = _prepare(spec_path)
    assert run_worker(str(spec_path), storage_url(spec), train_fn=stub_path) == 2
    assert sorted(t.state.name for t in study.get_trials()) == ['COMPLETE', 'FAIL']
    exp = client.get_experiment_by_name('failing')
    failed = client.search_runs([exp.experiment_id], "attributes.status = 'FAILED'")
    assert sorted(r.data.tags['jedi.role'] for r in failed) == ['seed', 'trial']
    assert all('stub failure' in r.data.tags['jedi.error'] for r in failed)
    # Re-run: the failed point is retried once, fails again, and is then given up.
    for expected_new in (1, 0):
        before = len(study.trials)
        _prepare(spec_path)
        run_worker(str(spec_path), storage_url(spec), train_fn=stub_path)
        assert len(study.get_trials()) - before == expected_new
    assert 'grid: 1/2 points done' in study_status(spec_path)


@pytest.mark.integration
def test_tpe_budget_and_median_pruning(tmp_path, toy_store, stub_path):
    spec_path = write_spec(tmp_path, toy_store, 'name: tpe\nseeds: [0]\n'
                           'cfg_options: {train_cfg.max_epochs: 3}\n'
                           'space:\n  model.gamma: {type: float, low: 0.0, high: 1.0}\n'
                           'sampler: {type: tpe, seed: 3}\nobjective: mean/student/top1\n'
                           'pruner: {type: median, n_startup_trials: 1, n_warmup_steps: 0}\n'
                           'budget: {n_trials: 6}\n')
    spec, client, study = _prepare(spec_path)
    run_worker(str(spec_path), storage_url(spec), n_trials=6, train_fn=stub_path)
    trials = study.get_trials()
    counted = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(counted) == 6 and len(trials) == 6
    # The stub's score grows with gamma: a trial whose gamma is below the median of earlier ones is pruned.
    states = [t.state.name for t in trials]
    assert 'PRUNED' in states and 'COMPLETE' in states, states
    exp = client.get_experiment_by_name('tpe')
    for t in trials:
        run = client.get_run(t.user_attrs['jedi.mlflow_run_id'])
        assert run.info.status == {'COMPLETE': 'FINISHED', 'PRUNED': 'KILLED'}[t.state.name]
        if t.state == TrialState.COMPLETE:
            assert run.data.metrics['objective/mean/student/top1'] == pytest.approx(t.value)
    assert len(client.search_runs([exp.experiment_id], "tags.`jedi.role` = 'seed'")) == 6
