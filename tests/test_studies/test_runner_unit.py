import optuna
import pytest
from optuna.trial import TrialState

from jedi_repro.studies import recovery
from jedi_repro.studies.runner import check_space, enqueue_grid
from jedi_repro.studies.spec import load_spec
from jedi_repro.studies.worker import claim_waiting

from .conftest import write_spec

BODY = 'seeds: [0]\nspace:\n  model.gamma: [0.0, 0.4]\n  model.kd_loss.type: [ce, kl]\nsampler: grid\n'


def _key(study, trial):
    return study._storage.get_trial(trial._trial_id).user_attrs[recovery.GRID_ATTR]


def _keys(study, states):
    return [t.user_attrs[recovery.GRID_ATTR] for t in study.get_trials(states=states)]


def test_enqueue_grid_is_idempotent_and_retries_a_failed_point_once(tmp_path):
    spec = load_spec(write_spec(tmp_path, tmp_path, BODY))
    study = optuna.create_study()
    assert enqueue_grid(study, spec) == 4
    assert enqueue_grid(study, spec) == 0  # all waiting
    trial = claim_waiting(study)
    study.tell(trial, state=TrialState.FAIL)
    assert enqueue_grid(study, spec) == 1  # first failure: retried
    failed_key = study.trials[0].user_attrs[recovery.GRID_ATTR]
    trial = claim_waiting(study)
    while _key(study, trial) != failed_key:
        study.tell(trial, 1.0)
        trial = claim_waiting(study)
    study.tell(trial, state=TrialState.FAIL)
    assert enqueue_grid(study, spec) == 0  # failed twice: given up
    keys = _keys(study, (TrialState.COMPLETE,)) + _keys(study, (TrialState.WAITING,))
    assert len(keys) == len(set(keys)) == 3


def test_cli_reports_bad_spec_without_traceback(tmp_path, capsys):
    from jedi_repro.cli import main

    bad = write_spec(tmp_path, tmp_path, BODY.replace('model.gamma', 'model.gama'))
    assert main(['study', 'run', str(bad)]) == 1
    err = capsys.readouterr().err
    assert 'space.model.gama' in err and 'Traceback' not in err
    good = write_spec(tmp_path, tmp_path / 'nothing', BODY, name='good')
    assert main(['study', 'run', str(good)]) == 1
    assert 'features' in capsys.readouterr().err
    assert main(['study', 'status', str(good)]) == 0
    assert 'not started' in capsys.readouterr().out


def test_interrupted_trial_uses_no_budget_and_no_attempt(tmp_path):
    from jedi_repro.studies.worker import INTERRUPTED_ATTR, budget_used, over_budget

    spec = load_spec(write_spec(tmp_path, tmp_path, BODY))
    study = optuna.create_study()
    enqueue_grid(study, spec)
    for _ in range(2):  # interrupted twice: still re-enqueued, never given up
        trial = claim_waiting(study)
        trial.set_user_attr(INTERRUPTED_ATTR, True)
        study.tell(trial, state=TrialState.FAIL)
        assert enqueue_grid(study, spec) == 1
    assert budget_used(study) == 0
    first = claim_waiting(study)
    study.tell(first, 1.0)
    second = claim_waiting(study)
    assert budget_used(study) == 2
    assert over_budget(study, second, 1) and not over_budget(study, second, 2)


def test_workers_split_the_cores():
    """Study workers share the cores instead of each starting one thread per core."""
    from jedi_repro.studies.runner import worker_env
    assert worker_env(2, environ={}, cpus=2)['OMP_NUM_THREADS'] == '1'
    assert worker_env(1, environ={}, cpus=2)['OMP_NUM_THREADS'] == '2'
    assert worker_env(4, environ={}, cpus=2)['OMP_NUM_THREADS'] == '1'
    assert worker_env(2, environ={'PATH': '/bin'}, cpus=8) == {'PATH': '/bin', 'OMP_NUM_THREADS': '4',
                                                                'JEDI_VERBOSE': '1'}


def test_an_explicit_thread_count_wins():
    from jedi_repro.studies.runner import worker_env

    assert worker_env(2, environ={'OMP_NUM_THREADS': '3'}, cpus=2)['OMP_NUM_THREADS'] == '3'


def test_trial_line_says_what_varies_and_the_validation_numbers():
    import datetime

    import optuna
    from optuna.distributions import FloatDistribution

    from jedi_repro.studies.runner import trial_line

    t = optuna.trial.create_trial(
        params={'model.gamma': 0.4}, distributions={'model.gamma': FloatDistribution(0.0, 1.0)},
        value=0.812345, user_attrs={'jedi.val_mean_primary': {'expert': 0.795, 'student': 0.808}})
    t.number = 3
    t.datetime_start = datetime.datetime(2026, 1, 1)
    t.datetime_complete = datetime.datetime(2026, 1, 1, 0, 0, 41)
    assert trial_line(t, ['val/mean/student/top1']) == ('trial-0003 gamma=0.4  complete  '
                                                        'val/mean/student/top1 81.23 %  val mean primary, %: '
                                                        'expert 79.50 student 80.80  (41 s)')
    t.user_attrs['jedi.run_name'] = 'trial-0003 fusion=logits'  # the run name, set when the trial starts
    assert trial_line(t).startswith('trial-0003 fusion=logits  complete  value 0 81.23 %  '
                                    'val mean primary, %:')


def test_a_study_that_will_not_fit_is_refused_before_a_worker_starts(tmp_path, monkeypatch):
    """Its finished runs measure a run; the runs left times that is checked against the free space."""
    from jedi_repro import atomic, workspace
    from jedi_repro.errors import JediError
    spec = load_spec(write_spec(tmp_path, tmp_path, BODY, name='full'))  # 4 grid points, one seed
    study = optuna.create_study()
    check_space(spec, study, 4)  # nothing finished yet: nothing to measure, nothing refused
    run = workspace.work_dir(f'{spec.name}/trial_0000/seed_0')
    run.mkdir(parents=True)
    (run / 'metrics.json').write_text('{}')
    (run / 'last.pth').write_bytes(b'x' * 998)
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=1.0))
    monkeypatch.setattr(atomic, 'free_bytes', lambda path: 3000)
    check_space(spec, study, 4)  # 3 runs of 1000 bytes: they fit
    monkeypatch.setattr(atomic, 'free_bytes', lambda path: 2999)
    with pytest.raises(JediError, match=r'study full: 3 run\(s\) left at up to 1000 bytes.*about 3000 bytes '
                                        r'are needed.*no space left'):
        check_space(spec, study, 4)
