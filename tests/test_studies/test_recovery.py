import socket
import subprocess
import sys
import time

import optuna
from optuna.trial import TrialState

from jedi_repro.studies import recovery
from jedi_repro.studies.worker import budget_used, claim_waiting


def _dead_identity():
    p = subprocess.Popen([sys.executable, '-c', 'pass'])
    p.wait()
    return {'host': socket.gethostname(), 'pid': p.pid, 'start': 'gone'}


def _running_trial(study, identity, params=None):
    dist = optuna.distributions.CategoricalDistribution([0.0, 0.4])
    trial = study.ask({'model.gamma': dist}) if params is None else study.ask()
    trial.set_user_attr(recovery.WORKER_ATTR, identity)
    return trial


def test_is_stale_by_pid_and_heartbeat():
    study = optuna.create_study()
    alive = _running_trial(study, recovery.worker_identity())
    dead = _running_trial(study, _dead_identity())
    other = _running_trial(study, {'host': 'elsewhere', 'pid': 1, 'start': ''})
    other.set_user_attr(recovery.HEARTBEAT_ATTR, time.time() - 10)
    frozen = {t.number: t for t in study.get_trials()}
    assert not recovery.is_stale(frozen[alive.number])
    assert recovery.is_stale(frozen[dead.number])
    assert not recovery.is_stale(frozen[other.number], grace_s=60)
    assert recovery.is_stale(frozen[other.number], now=time.time() + 120, grace_s=60)


def test_recover_fails_stale_trial_and_retries_once():
    study = optuna.create_study()
    live = _running_trial(study, recovery.worker_identity())
    dead = _running_trial(study, _dead_identity())
    assert recovery.recover_stale_trials(study) == [dead.number]
    states = {t.number: t.state for t in study.get_trials()}
    assert states[live.number] == TrialState.RUNNING and states[dead.number] == TrialState.FAIL
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].params == study.trials[dead.number].params
    assert budget_used(study) == 1  # the live one; the stale failure does not use budget
    # The retry dies too: failed, not retried a second time.
    retry = claim_waiting(study)
    assert retry.params == study.trials[dead.number].params
    retry.set_user_attr(recovery.WORKER_ATTR, _dead_identity())
    assert recovery.recover_stale_trials(study) == [retry.number]
    assert not study.get_trials(states=(TrialState.WAITING,))


def test_claim_waiting_gives_each_point_once():
    study = optuna.create_study()
    for g in (0.0, 0.4):
        study.enqueue_trial({'model.gamma': g})
    a, b = claim_waiting(study), claim_waiting(study)
    assert a is not None and b is not None and a.number != b.number
    assert claim_waiting(study) is None
    assert len(study.trials) == 2  # claiming never creates a trial


def test_heartbeat_refreshes_attr():
    study = optuna.create_study()
    trial = study.ask()
    with recovery.Heartbeat(study, trial._trial_id, interval_s=0.05):
        time.sleep(0.2)
    beat = study.trials[0].user_attrs[recovery.HEARTBEAT_ATTR]
    assert time.time() - beat < 1.0
