"""Liveness of running trials: which worker runs a trial, and failing + retrying trials whose worker died.

Optuna 5.0's heartbeat (``heartbeat_interval``) is implemented by ``RDBStorage`` only; ``JournalStorage``
is not a ``BaseHeartbeat``, so a trial whose worker was SIGKILLed would stay RUNNING forever. Each worker
therefore records on its trial who runs it (host, pid, process start time) and refreshes a heartbeat
timestamp. A RUNNING trial is stale when its worker process is gone (same host) or its heartbeat is older
than the grace period (another host). Stale trials are failed, their MLflow runs end FAILED, and the
configuration is re-enqueued once (same bookkeeping as Optuna's ``RetryFailedTrialCallback``).

On a server RDB (PostgreSQL) the storage is opened with Optuna's own heartbeat (``heartbeat_interval``,
``grace_period``): ``Heartbeat`` also records Optuna's heartbeat, and a trial Optuna reports stale
(``_get_stale_trial_ids``, what ``optuna.storages.fail_stale_trials`` reads) is stale here too; failing,
ending the MLflow runs and retrying stay this module's, so journal and RDB studies recover alike.
"""
from __future__ import annotations

import socket
import threading
import time

from jedi_repro.processes import identity as worker_identity  # noqa: F401 (recorded on trials)
from jedi_repro.processes import process_alive

WORKER_ATTR = 'jedi.worker'
HEARTBEAT_ATTR = 'jedi.heartbeat'
RUN_ATTR = 'jedi.mlflow_run_id'
STALE_ATTR = 'jedi.stale'
INTERRUPTED_ATTR = 'jedi.interrupted'
GRID_ATTR = 'jedi.grid_key'
HEARTBEAT_S = 10.0
GRACE_S = 120.0
MAX_RETRY = 1


def is_stale(trial, now: float | None = None, host: str | None = None, grace_s: float = GRACE_S) -> bool:
    """Whether a RUNNING ``trial`` (FrozenTrial) has lost its worker.

    Args:
        trial: the frozen trial.
        now: current time (seconds since epoch).
        host: this machine's host name.
        grace_s: how old a heartbeat may be before a worker on another host counts as dead.
    """
    now = time.time() if now is None else now
    host = host or socket.gethostname()
    ident = trial.user_attrs.get(WORKER_ATTR)
    if ident and ident.get('host') == host:
        return not process_alive(int(ident['pid']), str(ident.get('start', '')))
    beat = trial.user_attrs.get(HEARTBEAT_ATTR)
    if beat is None:
        started = trial.datetime_start.timestamp() if trial.datetime_start else now
        return now - started > grace_s
    return now - float(beat) > grace_s


class Heartbeat:
    """Refresh ``jedi.heartbeat`` on a running trial from a daemon thread.

    Args:
        study: the Optuna study.
        trial_id: the storage's trial id.
        interval_s: seconds between beats.
    """

    def __init__(self, study, trial_id: int, interval_s: float = HEARTBEAT_S):
        self.storage = study._storage
        self.trial_id = trial_id
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name='jedi-heartbeat')

    def __enter__(self):
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def beat(self) -> None:
        try:
            self.storage.set_trial_user_attr(self.trial_id, HEARTBEAT_ATTR, time.time())
            if optuna_heartbeat_enabled(self.storage):
                self.storage.record_heartbeat(self.trial_id)
        except Exception:  # noqa: BLE001 - trial already finished, or a transient storage error
            pass

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.beat()


def optuna_heartbeat_enabled(storage) -> bool:
    from optuna.storages._heartbeat import is_heartbeat_enabled
    return is_heartbeat_enabled(storage)


def optuna_stale_trial_ids(study) -> set[int]:
    """Trial ids whose Optuna heartbeat is older than the storage's grace period (RDB storages only)."""
    storage = study._storage
    if not optuna_heartbeat_enabled(storage):
        return set()
    return set(storage._get_stale_trial_ids(study._study_id))


def recover_stale_trials(study, client=None, grace_s: float = GRACE_S, max_retry: int = MAX_RETRY,
                         retry: bool = True) -> list[int]:
    """Fail RUNNING trials whose worker died, end their MLflow runs FAILED, retry each once.

    Args:
        study: the Optuna study.
        client: a tracking client (None: MLflow is left alone).
        grace_s: see :func:`is_stale`.
        max_retry: retries per configuration (1: a configuration runs at most twice).
        retry: enqueue a copy of each failed trial (grid studies re-enqueue missing points themselves).

    Returns:
        The numbers of the trials that were failed.
    """
    failed = []
    for trial in _fail_dead_trials(study, STALE_ATTR, grace_s):
        failed.append(trial.number)
        if client is not None and trial.user_attrs.get(RUN_ATTR):
            fail_mlflow_runs(client, trial.user_attrs[RUN_ATTR])
        if retry:
            enqueue_retry(study, trial, max_retry)
    return failed


def _fail_dead_trials(study, attr: str, grace_s: float = GRACE_S):
    """Set ``attr`` on every RUNNING trial whose worker is gone (by the project's record or Optuna's
    heartbeat) and fail it; yield the failed trials.

    A trial finished or failed by someone else meanwhile is skipped (the storage's compare-and-set).
    """
    import optuna
    from optuna.trial import TrialState

    storage = study._storage
    optuna_stale = optuna_stale_trial_ids(study)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial._trial_id not in optuna_stale and not is_stale(trial, grace_s=grace_s):
            continue
        try:
            storage.set_trial_user_attr(trial._trial_id, attr, True)
            if not storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        yield storage.get_trial(trial._trial_id)


def fail_mlflow_runs(client, trial_run_id: str, state: str = 'STALE', status: str = 'FAILED') -> None:
    """End a dead trial's run and its seed runs ``status`` (finished seeds too: the retry supersedes them)."""
    from jedi_repro.tracking.runs import end_run, set_tags

    run = client.get_run(trial_run_id)
    children = client.search_runs([run.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{trial_run_id}'")
    for r in [*children, run]:
        set_tags(client, r.info.run_id, {'jedi.state': state})
        end_run(client, r.info.run_id, status)


def close_interrupted_trials(study, client=None) -> list[int]:
    """After the user stopped a study: fail every RUNNING trial whose worker is gone as *interrupted*.

    Interrupted trials use no retry and no budget (the configuration runs again on the next
    ``jedi study run``); their MLflow runs end KILLED. Returns the trial numbers.
    """
    done = []
    for trial in _fail_dead_trials(study, INTERRUPTED_ATTR):
        done.append(trial.number)
        if client is not None and trial.user_attrs.get(RUN_ATTR):
            fail_mlflow_runs(client, trial.user_attrs[RUN_ATTR], state='INTERRUPTED', status='KILLED')
    return done


def attempt_root(study, trial) -> int:
    """The number of the first attempt at ``trial``'s configuration (its own number if it is the first).

    A retried configuration (``failed_trial``) or a re-enqueued grid point (same ``jedi.grid_key``) runs in
    the first attempt's work dirs, so its seeds resume where the killed attempt stopped.
    """
    frozen = study._storage.get_trial(trial._trial_id)
    if 'failed_trial' in frozen.system_attrs:
        return int(frozen.system_attrs['failed_trial'])
    key = frozen.user_attrs.get(GRID_ATTR)
    if key is None:
        return trial.number
    return min((t.number for t in study.get_trials(deepcopy=False)
                if t.user_attrs.get(GRID_ATTR) == key), default=trial.number)


def enqueue_retry(study, trial, max_retry: int = MAX_RETRY) -> bool:
    """Add a WAITING copy of ``trial`` (same params) unless it has been retried ``max_retry`` times."""
    import optuna
    from optuna.trial import TrialState

    history = list(trial.system_attrs.get('retry_history', [])) + [trial.number]
    if len(history) > max_retry or not trial.params:  # no params: died before sampling, nothing to redo
        return False
    user_attrs = {k: v for k, v in trial.user_attrs.items() if k == GRID_ATTR}
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.WAITING, params=trial.params, distributions=trial.distributions,
        user_attrs=user_attrs,
        system_attrs={'failed_trial': trial.system_attrs.get('failed_trial', trial.number),
                      'retry_history': history}))
    return True
