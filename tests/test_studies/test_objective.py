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


def test_objective_value_reads_validation_never_test():
    val = {'datasets': {'ds0': {'student': {'top1': 0.5}}}, 'mean': {'teacher': {'mAP': 0.25}}}
    test = {'datasets': {'ds0': {'student': {'top1': 0.9}}}, 'mean': {'teacher': {'mAP': 0.95}}}
    metrics = {**test, 'val': val}
    assert objective_value(metrics, 'ds0/student/top1') == 0.5
    assert objective_value(metrics, 'mean/teacher/mAP') == 0.25
    from jedi_repro.errors import JediError
    with pytest.raises(JediError, match='ds9/student/top1'):
        objective_value(metrics, 'ds9/student/top1')
    with pytest.raises(JediError, match='not finite'):
        objective_value({'val': {'mean': {'teacher': {'top1': float('nan')}}}}, 'mean/teacher/top1')
    with pytest.raises(JediError, match='no "val" block'):
        objective_value(test, 'ds0/student/top1')  # test metrics alone are never an objective


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
            assert run.data.metrics['val/mean/student/top1'] == pytest.approx(t.value)
            assert run.data.tags['jedi.objective'] == 'val/mean/student/top1'
            assert not any(k.startswith('objective/') for k in run.data.metrics)
            assert t.user_attrs['jedi.val_mean_primary']['student'] == pytest.approx(t.value)
        (inp,) = run.inputs.dataset_inputs  # the trial's feature store, as on its seed runs
        assert len(inp.dataset.digest) == 32 and inp.dataset.source_type == 'jedi_feature_store'
    assert len(client.search_runs([exp.experiment_id], "tags.`jedi.role` = 'seed'")) == 6


@pytest.mark.integration
def test_trial_values_and_pruning_follow_validation_not_test(tmp_path, toy_store, stub_path):
    """The stub's validation prefers a large gamma, its test a small one: the study follows validation."""
    from stub_train import expected_test_top1, expected_top1

    spec_path = write_spec(tmp_path, toy_store, 'name: valonly\nseeds: [0, 1]\n'
                           'cfg_options: {train_cfg.max_epochs: 3}\n'
                           'space:\n  model.gamma: [0.0, 1.0]\nsampler: grid\nobjective: mean/student/top1\n'
                           'pruner: {type: median, n_startup_trials: 5, n_warmup_steps: 0}\n')
    spec, client, study = _prepare(spec_path)
    assert run_worker(str(spec_path), storage_url(spec), train_fn=stub_path) == 2

    def mean_over(fn, gamma):
        return sum((fn(gamma, s, 'ds0', 'student') + fn(gamma, s, 'ds1', 'student')) / 2 for s in (0, 1)) / 2

    for t in study.get_trials():
        gamma = t.params['model.gamma']
        assert t.value == pytest.approx(mean_over(expected_top1, gamma))
        if gamma > 0:  # where validation and test disagree, the value is validation's
            assert t.value != pytest.approx(mean_over(expected_test_top1, gamma))
        # pruning sees the per-epoch validation values (the stub's val rises linearly to its final value)
        seed0 = (expected_top1(gamma, 0, 'ds0', 'student') + expected_top1(gamma, 0, 'ds1', 'student')) / 2
        assert t.intermediate_values[1] == pytest.approx(seed0 / 3)
        assert t.intermediate_values[3] == pytest.approx(seed0)
        run = client.get_run(t.user_attrs['jedi.mlflow_run_id'])
        assert run.data.metrics['val/mean/student/top1'] == pytest.approx(t.value)
        test = mean_over(expected_test_top1, gamma)
        assert run.data.metrics['test/mean/student/top1'] == pytest.approx(test)
    assert study.best_trial.params['model.gamma'] == 1.0  # best on validation, worst on test
    assert study.metric_names == ['val/mean/student/top1']  # what optuna-dashboard calls the values
    assert 'best 2 by validation mean/student/top1' in study_status(spec_path)


@pytest.mark.integration
def test_real_train_on_a_store_with_shuffled_test_labels(tmp_path):
    """Test labels carry no signal (test at chance), validation does: trial values, pruning values and the
    report's best configuration are the validation figures; test figures are only reported."""
    import json
    from pathlib import Path

    from jedi_repro.data.toy import make_toy_store
    from jedi_repro.reporting import write_report

    store = make_toy_store(tmp_path / 'shuffled', n_datasets=2, n_classes=4, dim=8, n_train=80, n_val=80,
                           n_test=300, shuffle_test_labels=True, seed=0)
    spec_path = write_spec(tmp_path, store.path, 'name: shuffled\nseeds: [0]\n'
                           'cfg_options: {train_cfg.max_epochs: 4, default_hooks.logger.interval: 1000}\n'
                           'space:\n  model.gamma: [0.0, 0.4]\nsampler: grid\nobjective: mean/student/top1\n'
                           'pruner: {type: median, n_startup_trials: 5, n_warmup_steps: 0}\n')
    spec, client, study = _prepare(spec_path)
    assert run_worker(str(spec_path), storage_url(spec)) == 2
    for t in study.get_trials():
        assert t.state == TrialState.COMPLETE
        exp_id = client.get_experiment_by_name('shuffled').experiment_id
        seed_run = client.search_runs(
            [exp_id], f"tags.`mlflow.parentRunId` = '{t.user_attrs['jedi.mlflow_run_id']}'")[0]
        m = json.loads((Path(seed_run.data.tags['jedi.work_dir']) / 'metrics.json').read_text())
        val, test = m['val']['mean']['student']['top1'], m['mean']['student']['top1']
        assert val > 0.6 and test < 0.4, (val, test)  # 4 classes: chance is 0.25
        assert t.value == pytest.approx(val)
        curve = m['convergence']['curves']['mean/student/primary']
        assert [t.intermediate_values[e] for e in range(1, len(curve) + 1)] == pytest.approx(curve)
    md = (write_report(tmp_path / 'r', studies=['shuffled']) / 'report.md').read_text()
    section = md[md.index('## Best configuration'):].splitlines()
    header = next(line for line in section if line.startswith('| study'))
    row = next(line for line in section if line.startswith('| shuffled'))
    cells = dict(zip([c.strip() for c in header.strip('|').split('|')],
                     [c.strip() for c in row.strip('|').split('|')]))
    assert float(cells['student mean, val'].split()[0]) > 60
    assert float(cells['student mean, test'].split()[0]) < 40


def test_run_names_say_what_varies():
    from jedi_repro.studies.objective import RUN_NAME_MAX, run_name

    values = {'model.fusion.type': 'logits', 'model.gamma': 0.4, 'data.unlabeled_datasets': ['a', 'b']}
    assert run_name(3, values) == 'trial-0003 fusion=logits gamma=0.4 unlabeled_datasets=a,b'
    assert run_name(3, values, seed=1) == 'trial-0003 fusion=logits gamma=0.4 unlabeled_datasets=a,b seed=1'
    long = run_name(12, {f'model.k{i}': 0.123456 for i in range(20)}, seed=2)
    assert long.endswith('... seed=2') and len(long) <= RUN_NAME_MAX + len(' seed=2')
