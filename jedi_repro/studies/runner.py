"""Run a study with N worker processes against one storage, and report its progress.

``run_study`` (what ``jedi study run`` calls) prepares everything that must happen once, in one process,
before workers start: the Optuna study, the MLflow experiment and parent run (so the MLflow schema is
created by one process), recovery of trials whose worker died in an earlier run, and the grid. Then it
starts the workers as subprocesses, shows a progress bar, and closes the parent run.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from jedi_repro import workspace
from jedi_repro.errors import JediError
from jedi_repro.studies import recovery
from jedi_repro.studies.objective import DEFAULT_TRAIN_FN
from jedi_repro.studies.space import decode, grid_key, grid_points
from jedi_repro.studies.spec import StudySpec, load_spec
from jedi_repro.studies.storage import load_study, storage_url

PARENT_ATTR = 'jedi.mlflow_parent_run_id'
EXPERIMENT_ATTR = 'jedi.mlflow_experiment_id'


def enqueue_grid(study, spec: StudySpec, max_retry: int = recovery.MAX_RETRY) -> int:
    """Enqueue every grid point that is neither done, running, waiting, nor out of retries.

    Returns:
        How many points were enqueued.
    """
    from optuna.trial import TrialState

    done, active, failed = set(), set(), {}
    for t in study.get_trials(deepcopy=False):
        key = t.user_attrs.get(recovery.GRID_ATTR)
        if key is None:
            continue
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            done.add(key)
        elif t.state in (TrialState.RUNNING, TrialState.WAITING):
            active.add(key)
        elif t.state == TrialState.FAIL and not t.user_attrs.get('jedi.interrupted'):
            failed[key] = failed.get(key, 0) + 1  # interrupted by the user: not an attempt
    added = 0
    for point in grid_points(spec.space):
        key = grid_key(point)
        if key in done or key in active or failed.get(key, 0) > max_retry:
            continue
        study.enqueue_trial(point, user_attrs={recovery.GRID_ATTR: key})
        added += 1
    return added


def prepare(spec: StudySpec, url: str, client) -> Any:
    """Create/load the study, its MLflow experiment and parent run; recover stale trials; fill the grid."""
    from jedi_repro.tracking.runs import base_tags, get_or_create_experiment, start_run

    study = load_study(spec, url, create=True)
    exp_id = get_or_create_experiment(client, spec.name)
    parent = study.user_attrs.get(PARENT_ATTR)
    if parent is None:
        tags = {**base_tags(spec.name, spec.features), 'jedi.spec': str(spec.path),
                'jedi.seeds': ','.join(map(str, spec.seeds))}
        parent = start_run(client, exp_id, 'study', spec.name, tags)
        study.set_user_attr(PARENT_ATTR, parent)
        study.set_user_attr(EXPERIMENT_ATTR, exp_id)
        client.log_text(parent, spec.path.read_text(), 'study_spec.yaml')
    else:
        client.update_run(parent, status='RUNNING')
    recovered = recovery.recover_stale_trials(study, client, retry=not spec.is_grid)
    if recovered:
        print(f'study {spec.name}: trial(s) {recovered} lost their worker; marked FAIL and queued for retry',
              flush=True)
    if spec.is_grid:
        enqueue_grid(study, spec)
    return study


def run_study(spec_path: str | Path, workers: int = 1, storage: str | None = None,
              n_trials: int | None = None, timeout_s: float | None = None, train_fn: str = DEFAULT_TRAIN_FN,
              progress: bool = True, reuse: bool = True) -> dict:
    """Run (or continue) a study.

    Args:
        spec_path: the YAML spec.
        workers: worker processes.
        storage: Optuna storage URL or journal path (default: the workspace journal of the study).
        n_trials: total trials of the study (overrides ``budget.n_trials``).
        timeout_s: wall-clock budget of this invocation (overrides ``budget.timeout_s``).
        train_fn: ``module:function`` trained per seed (the real ``train`` unless a test injects one).
        progress: show a progress bar.
        reuse: adopt finished seed runs of the same key instead of retraining (``jedi_repro.engine.reuse``).

    Returns:
        A summary dict (``counts`` by state, ``wall_s``, ``worker_exit_codes``).

    Raises:
        JediError: bad spec/features, or a worker that failed or died (the message says to re-run).
    """
    import optuna

    from jedi_repro.tracking.client import RetryingClient
    from jedi_repro.tracking.runs import end_run, log_metrics

    if workers < 1:
        raise JediError(f'--workers must be at least 1, got {workers}')
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_spec(spec_path)
    if not (spec.features / 'manifest.json').is_file():
        raise JediError(f'study spec {spec.path}: field "features": {spec.features} is not a feature store '
                        '(no manifest.json); run `jedi extract` or `jedi demo`, or point "features" '
                        'elsewhere')
    url = storage_url(spec, storage)
    if url.startswith('sqlite:') and workers > 1:
        print('warning: SQLite storage locks under parallel workers; prefer the default journal file',
              file=sys.stderr)
    n_trials = n_trials if n_trials is not None else spec.n_trials
    timeout_s = timeout_s if timeout_s is not None else spec.timeout_s
    client = RetryingClient()
    t0 = time.time()
    study = prepare(spec, url, client)
    parent = study.user_attrs[PARENT_ATTR]
    total = _target(study, spec, n_trials)
    deadline = t0 + timeout_s if timeout_s else None
    logs = workspace.path('studies', spec.name, 'logs', mkdir=True)
    if _nothing_to_do(study, spec, n_trials):
        procs = []
        print(f'study {spec.name}: nothing left to run', flush=True)
    else:
        procs = [_spawn(spec, url, i, n_trials, deadline, train_fn, logs, workers, reuse)
                 for i in range(workers)]
    try:
        codes = _wait(procs, study, total, progress)
    except KeyboardInterrupt:
        end_run(client, parent, 'KILLED')
        raise
    counts = state_counts(study)
    wall = time.time() - t0
    died = [(i, c) for i, c in enumerate(codes) if c != 0]
    best = _best_values(study, spec)
    if best:
        log_metrics(client, parent, best)
    end_run(client, parent, 'FAILED' if died else 'FINISHED')
    summary = {'study': spec.name, 'storage': url, 'counts': counts, 'wall_s': wall,
               'workers_started': len(procs), 'worker_exit_codes': codes, 'logs': str(logs)}
    if died:
        what = '; '.join(f'worker {i} ' + (f'was killed by signal {-c}' if c < 0 else f'exited with {c}')
                         + f' (log {logs / f"worker-{i}.log"})' for i, c in died)
        raise JediError(f'study {spec.name}: {what}. Trials it left RUNNING are failed and retried once when '
                        f'you re-run `jedi study run {spec.path}`.')
    return summary


def _nothing_to_do(study, spec: StudySpec, n_trials: int | None) -> bool:
    """A grid with no waiting point, or a used-up trial budget: starting workers would only cost time."""
    from optuna.trial import TrialState

    from jedi_repro.studies.worker import budget_used

    if spec.is_grid and not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        return True
    return n_trials is not None and budget_used(study) >= n_trials


def worker_env(workers: int, environ=None, cpus: int | None = None) -> dict:
    """The workers' environment: the cores shared out between them unless ``OMP_NUM_THREADS`` is set.

    Each torch process otherwise starts one thread per core; N such workers on N cores spin against each
    other (measured: 1.0 s per iteration instead of 0.15 s with 2 workers on 2 cores).
    """
    env = dict(os.environ if environ is None else environ)
    if not env.get('OMP_NUM_THREADS'):
        env['OMP_NUM_THREADS'] = str(max(1, (cpus or os.cpu_count() or 1) // max(1, workers)))
    return env


def _spawn(spec, url, index, n_trials, deadline, train_fn, logs: Path, workers: int = 1,
           reuse: bool = True) -> subprocess.Popen:
    cmd = [sys.executable, '-m', 'jedi_repro.studies.worker', '--spec', str(spec.path), '--storage', url,
           '--index', str(index), '--train-fn', train_fn]
    if n_trials is not None:
        cmd += ['--n-trials', str(n_trials)]
    if deadline is not None:
        cmd += ['--deadline', repr(deadline)]
    if not reuse:
        cmd.append('--no-reuse')
    log = open(logs / f'worker-{index}.log', 'ab')
    try:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=worker_env(workers))
    finally:
        log.close()  # the child holds its own descriptor


def _wait(procs: list[subprocess.Popen], study, total: int | None, progress: bool) -> list[int]:
    """Wait for every worker, with a progress bar of finished trials; Ctrl-C stops the workers."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=f'study {study.study_name}', unit='trial', disable=not progress,
               file=sys.stderr)
    try:
        while any(p.poll() is None for p in procs):
            _update(bar, study)
            time.sleep(1.0)
    except KeyboardInterrupt:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait(timeout=60)
        raise
    finally:
        _update(bar, study)
        bar.close()
    return [p.returncode for p in procs]


def _update(bar, study) -> None:
    from optuna.trial import TrialState

    finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                            TrialState.FAIL)))
    bar.n = finished
    bar.refresh()


def _target(study, spec: StudySpec, n_trials: int | None) -> int | None:
    if spec.is_grid:
        size = len(grid_points(spec.space))
        return min(size, n_trials) if n_trials else size
    return n_trials


def state_counts(study) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


def _best_values(study, spec: StudySpec) -> dict[str, float]:
    if len(spec.objectives) != 1:
        return {}
    try:
        best = study.best_trial
    except ValueError:
        return {}
    return {f'best/{spec.objectives[0].metric}': float(best.value)}


def study_status(spec_path: str | Path, storage: str | None = None, top: int = 5) -> str:
    """A text report: trials by state, grid progress, the best trials (Pareto front if multi-objective)."""
    from optuna.trial import TrialState

    spec = load_spec(spec_path, check_paths=False)
    url = storage_url(spec, storage)
    if storage is None and not Path(url).exists():
        return f'study {spec.name}: not started (no journal at {url})'
    study = load_study(spec, url)
    counts = state_counts(study)
    lines = [f'study {spec.name}  storage {url}',
             f'  seeds {spec.seeds}  sampler {spec.sampler["type"]}  pruner {spec.pruner["type"]}',
             '  trials: ' + (', '.join(f'{k.lower()} {v}' for k, v in sorted(counts.items())) or 'none')]
    if spec.is_grid:
        points = {grid_key(p) for p in grid_points(spec.space)}
        done = {t.user_attrs.get(recovery.GRID_ATTR) for t in study.get_trials(
            deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))}
        lines.append(f'  grid: {len(points & done)}/{len(points)} points done')
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        lines.append('  no complete trial yet')
        return '\n'.join(lines)
    names = ', '.join(f'{o.metric} ({o.direction[:3]})' for o in spec.objectives)
    if len(spec.objectives) == 1:
        sign = -1 if spec.objectives[0].direction == 'maximize' else 1
        best = sorted(complete, key=lambda t: sign * t.value)[:top]
        lines.append(f'  best {len(best)} by validation {names}, mean over {len(spec.seeds)} seed(s):')
    else:
        best = study.best_trials[:top]
        lines.append(f'  Pareto front ({len(study.best_trials)} trials) on validation {names}:')
    for t in best:
        vals = ', '.join(f'{v:.4f}' for v in t.values)
        params = ', '.join(f'{k}={v!r}' for k, v in decode(spec.space, t.params).items())
        lines.append(f'    #{t.number:<4d} {vals}   {params}')
    return '\n'.join(lines)
