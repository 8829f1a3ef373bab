"""A study worker: one process that claims trials from the shared storage and runs them until done.

Started by :func:`jedi_repro.studies.runner.run_study` as ``python -m jedi_repro.studies.worker ...``, or
separately as ``jedi study worker SPEC --storage URL`` (on any machine, with an RDB storage): any number of
workers can serve one study. A worker never prepares a study (schema, study, MLflow experiment and parent
run, grid: ``jedi study run`` does that once); started before it, it waits (``wait_s``). Grid studies only
claim the points the runner enqueued, so a point is never sampled twice and the worker stops when none is
left.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from jedi_repro.errors import JediError
from jedi_repro.studies import recovery
from jedi_repro.studies.objective import DEFAULT_TRAIN_FN, TrialContext, resolve_callable, run_trial

MAX_CONSECUTIVE_FAILURES = 3
OVER_BUDGET_ATTR = 'jedi.over_budget'
INTERRUPTED_ATTR = recovery.INTERRUPTED_ATTR
NOT_COUNTED = (recovery.STALE_ATTR, OVER_BUDGET_ATTR, INTERRUPTED_ATTR)


def uses_budget(trial) -> bool:
    """Finished, running, and failed trials count against ``n_trials``; trials failed because their worker
    died, the user interrupted them, or they were over budget do not."""
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
        return True
    return trial.state == TrialState.FAIL and not any(trial.user_attrs.get(a) for a in NOT_COUNTED)


def budget_used(study) -> int:
    """How many trials count against ``n_trials``."""
    return sum(uses_budget(t) for t in study.get_trials(deepcopy=False))


def over_budget(study, trial, n_trials: int) -> bool:
    """Whether ``trial`` is beyond the budget: two workers can both pass the check before ``ask``; the
    trial with the higher number then yields, so the study runs exactly ``n_trials``."""
    earlier = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number]
    return sum(uses_budget(t) for t in earlier) >= n_trials


def claim_waiting(study):
    """Atomically claim one WAITING (enqueued) trial, or None when none is left.

    The storage's compare-and-set on the state makes exactly one worker win each trial.
    """
    import optuna
    from optuna.trial import TrialState

    storage = study._storage
    for t in storage.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.WAITING,)):
        try:
            if storage.set_trial_state_values(t._trial_id, state=TrialState.RUNNING):
                return optuna.trial.Trial(study, t._trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


TRACKING_ATTR = 'jedi.mlflow_tracking_uri'
SERVER_SCHEMES = ('http://', 'https://')


def wait_for_study(spec, storage_url: str, worker_index: int = 0, wait_s: float = 0.0, poll_s: float = 2.0):
    """The study once ``jedi study run`` has prepared it (storage schema, study, MLflow parent run).

    Raises:
        JediError: not prepared within ``wait_s`` seconds (the last reason).
    """
    from jedi_repro.studies.storage import load_study

    deadline = time.time() + wait_s
    while True:
        try:
            study = load_study(spec, storage_url, worker_index)
            if study.user_attrs.get('jedi.mlflow_parent_run_id') and \
                    study.user_attrs.get('jedi.mlflow_experiment_id'):
                return study
            reason = JediError(f'study "{spec.name}" has no MLflow parent run; start it with '
                               '`jedi study run`')
        except JediError as exc:
            reason = exc
        if time.time() + poll_s > deadline:
            raise reason
        time.sleep(poll_s)


def worker_tracking_uri(study, environ=None) -> str | None:
    """The tracking URI a worker logs to: ``$MLFLOW_TRACKING_URI``, else the server the study was prepared
    with (recorded by ``jedi study run``), else ``None`` (the workspace default).

    Raises:
        JediError: ``$MLFLOW_TRACKING_URI`` names another server than the study's runs live on.
    """
    environ = os.environ if environ is None else environ
    recorded = study.user_attrs.get(TRACKING_ATTR)
    env = environ.get('MLFLOW_TRACKING_URI')
    if recorded and env and env.rstrip('/') != recorded.rstrip('/'):
        raise JediError(f'MLFLOW_TRACKING_URI={env} but study "{study.study_name}" logs to the tracking '
                        f'server {recorded} (where its parent run is); unset it or point it there')
    return env or recorded


def run_worker(spec_path: str, storage_url: str, worker_index: int = 0, n_trials: int | None = None,
               deadline: float | None = None, train_fn: str = DEFAULT_TRAIN_FN, wait_s: float = 0.0,
               reuse: bool = True) -> int:
    """Run trials until the grid is done, the budget is used or the deadline passed.

    Args:
        spec_path: the study spec.
        storage_url: the Optuna storage (journal path or RDB URL).
        worker_index: this worker's index (sampler seed offset, log names).
        n_trials: total trials of the study (None: grid size / unlimited until ``deadline``).
        deadline: wall-clock time (epoch seconds) after which no new trial starts.
        train_fn: ``module:function`` called per seed (the real ``train`` by default).
        wait_s: how long to wait for ``jedi study run`` to prepare the study (workers started apart).
        reuse: adopt finished seed runs of the same key instead of retraining.

    Returns:
        The number of trials this worker ran.
    """
    import optuna

    from jedi_repro import workspace
    from jedi_repro.studies.spec import load_spec
    from jedi_repro.tracking.offline import finish, preflight, study_client
    from jedi_repro.tracking.runs import base_tags

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_spec(spec_path)
    study = wait_for_study(spec, storage_url, worker_index, wait_s)
    parent = study.user_attrs.get('jedi.mlflow_parent_run_id')
    experiment_id = study.user_attrs.get('jedi.mlflow_experiment_id')
    uri = worker_tracking_uri(study)
    preflight(uri)  # a worker started apart: its server answers, or it says so now
    # an outage during the study costs no trial: the record is kept and sent later (tracking/offline.py)
    client = study_client(workspace.work_dir(spec.name), f'worker-{worker_index}', uri,
                          sync_hint=f'jedi sync {spec.path}')
    ctx = TrialContext(spec, client, experiment_id, parent, base_tags(spec.name, spec.features),
                       resolve_callable(train_fn), reuse=reuse)
    try:
        return _run_trials(study, spec, ctx, worker_index, n_trials, deadline)
    finally:
        finish(client, f'worker {worker_index} of study {spec.name}')


def _run_trials(study, spec, ctx: TrialContext, worker_index: int, n_trials: int | None,
                deadline: float | None) -> int:
    import optuna
    from optuna.trial import TrialState

    ran = failures = 0
    while True:
        if deadline is not None and time.time() >= deadline:
            break
        if n_trials is not None and budget_used(study) >= n_trials:
            break
        trial = claim_waiting(study) if spec.is_grid else study.ask()
        if trial is None:
            break
        if n_trials is not None and not spec.is_grid and over_budget(study, trial, n_trials):
            trial.set_user_attr(OVER_BUDGET_ATTR, True)  # not counted, not a configuration: no MLflow run
            study.tell(trial, state=TrialState.FAIL)
            break
        trial.set_user_attr(recovery.WORKER_ATTR, recovery.worker_identity())
        print(f'[worker {worker_index}] trial {trial.number} started', flush=True)
        with recovery.Heartbeat(study, trial._trial_id):
            try:
                values = run_trial(trial, ctx)
            except KeyboardInterrupt:
                # Stopped by the user: not a failure of the configuration (no budget, no retry used up).
                trial.set_user_attr(INTERRUPTED_ATTR, True)
                study.tell(trial, state=TrialState.FAIL)
                raise
            except optuna.TrialPruned as exc:
                study.tell(trial, state=TrialState.PRUNED)
                print(f'[worker {worker_index}] trial {trial.number} pruned: {exc}', flush=True)
                failures = 0
            except Exception as exc:  # noqa: BLE001 - a failed trial is recorded, the study goes on
                study.tell(trial, state=TrialState.FAIL)
                failures += 1
                print(f'[worker {worker_index}] trial {trial.number} FAILED: {type(exc).__name__}: {exc}',
                      flush=True)
                if failures >= MAX_CONSECUTIVE_FAILURES:
                    raise JediError(f'worker {worker_index}: {failures} trials failed in a row, last: '
                                    f'{type(exc).__name__}: {exc}') from exc
            else:
                study.tell(trial, values)
                print(f'[worker {worker_index}] trial {trial.number} complete: {values}', flush=True)
                failures = 0
        ran += 1
    return ran


def _interrupt_once(signum, frame) -> None:
    """The first SIGINT/SIGTERM interrupts the trial; later ones are ignored so that the worker can mark
    the trial interrupted and close its runs (the runner SIGKILLs a worker that takes too long)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt(f'signal {signum}')


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog='python -m jedi_repro.studies.worker', description=__doc__)
    p.add_argument('--spec', required=True)
    p.add_argument('--storage', required=True)
    p.add_argument('--index', type=int, default=0)
    p.add_argument('--n-trials', type=int, default=None)
    p.add_argument('--deadline', type=float, default=None)
    p.add_argument('--train-fn', default=DEFAULT_TRAIN_FN)
    p.add_argument('--wait', type=float, default=0.0)
    p.add_argument('--no-reuse', action='store_true')
    args = p.parse_args(argv)
    signal.signal(signal.SIGINT, _interrupt_once)
    signal.signal(signal.SIGTERM, _interrupt_once)
    try:
        ran = run_worker(args.spec, args.storage, args.index, args.n_trials, args.deadline, args.train_fn,
                         wait_s=args.wait, reuse=not args.no_reuse)
    except JediError as exc:
        print(f'error: {exc}', file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print(f'[worker {args.index}] interrupted', flush=True)
        return 130
    print(f'[worker {args.index}] done, {ran} trial(s)', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
