"""Run a study with N worker processes against one storage, and report its progress.

``run_study`` (what ``jedi study run`` calls) prepares everything that must happen once, in one process,
before workers start: the Optuna study, the MLflow experiment and parent run (so the MLflow schema is
created by one process), recovery of trials whose worker died in an earlier run, and the grid. Then it
starts the workers as subprocesses, shows a progress bar, and closes the parent run.

With ``workers=0`` it only prepares (and, once nothing is left to run, closes the parent run): the workers
are started apart, e.g. ``jedi study worker SPEC --storage postgresql://...`` on several machines. Run it
again after they end: it fails and retries the trials of workers that died, and closes the study.
"""
from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from jedi_repro import workspace
from jedi_repro.aggregates import pct
from jedi_repro.console import VERBOSE_ENV
from jedi_repro.errors import JediError
from jedi_repro.processes import die_with_parent
from jedi_repro.studies import recovery
from jedi_repro.studies.objective import DEFAULT_TRAIN_FN
from jedi_repro.studies.space import decode, grid_key, grid_points
from jedi_repro.studies.spec import StudySpec, check_against_store, load_spec
from jedi_repro.studies.storage import check_storage, load_study, storage_url

PARENT_ATTR = 'jedi.mlflow_parent_run_id'
# the parent run's [[metric, direction], ...]: what the report's "best" uses
OBJECTIVES_TAG = 'jedi.objectives'
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


def study_kind(spec: StudySpec) -> str:
    """``baseline`` (one configuration), ``ablation`` (a grid) or ``search`` (a sampler over a space)."""
    from jedi_repro.studies.objective import is_single_point
    return 'baseline' if is_single_point(spec) else 'ablation' if spec.is_grid else 'search'


def study_params(spec: StudySpec) -> dict[str, Any]:
    """The parent run's params: the study's fixed settings and its searched space (``space.<key>``)."""
    params: dict[str, Any] = {
        'study.kind': study_kind(spec), 'study.base_config': str(spec.base_config),
        'study.features': str(spec.features), 'study.seeds': spec.seeds,
        'study.sampler': spec.sampler, 'study.pruner': spec.pruner,
        'study.objectives': [f'val/{o.metric} ({o.direction})' for o in spec.objectives],
    }
    if spec.n_trials is not None:
        params['study.n_trials'] = spec.n_trials
    params.update({f'fixed.{k}': v for k, v in spec.cfg_options.items()})
    params.update({f'space.{k}': {f: list(v) if isinstance(v, tuple) else v for f, v in vars(p).items()
                                  if f != 'key' and v not in (None, (), False)}
                   for k, p in spec.space.items()})
    return params


def describe_experiment(client, experiment_id: str, spec: StudySpec) -> None:
    """The experiment page's description (``mlflow.note.content``: the study's own block, the ranking
    joins it when trials finish), its tags for the study's kind and store, and the saved runs view that
    ``jedi ui`` links to (``jedi_repro.tracking.views``)."""
    from jedi_repro.tracking import notes, views

    text = spec.description or spec.name
    objectives = '; '.join(f'{o.direction} val/{o.metric}' for o in spec.objectives)
    study_text = (f'{text}\n\nStudy `{spec.name}` ({study_kind(spec)}), spec `{spec.path.name}`, '
                  f'seeds {spec.seeds}, objective(s): {objectives}.')
    current = client.get_experiment(experiment_id).tags.get(notes.NOTE_TAG)
    tags = {notes.NOTE_TAG: notes.compose(current, 'study', study_text), 'jedi.study_kind': study_kind(spec),
            'jedi.store': str(spec.features),
            **views.view_tags([(o.metric, o.direction) for o in spec.objectives], list(spec.space))}
    for key, value in tags.items():
        client.set_experiment_tag(experiment_id, key, value)


def publish_ranking(client, study, spec: StudySpec) -> str:
    """Open the study's parent run and its experiment on the ranked configurations
    (``jedi_repro.studies.ranking``); returns the Markdown (empty before any trial completes)."""
    from jedi_repro.studies.ranking import BLOCK, study_ranking
    from jedi_repro.tracking import notes
    from jedi_repro.tracking.provenance import dataset_metrics

    try:
        metrics = dataset_metrics(spec.features)
    except Exception:  # noqa: BLE001 - a store gone since the run: the metric is named generically
        metrics = None
    parent = study.user_attrs[PARENT_ATTR]
    parent = getattr(client, 'run_id', lambda r: r)(parent)  # MLflow's id of a run opened during an outage
    exp_id = study.user_attrs.get(EXPERIMENT_ATTR) or client.get_run(parent).info.experiment_id
    text = study_ranking(client, exp_id, parent, [(o.metric, o.direction) for o in spec.objectives], metrics)
    notes.set_block(client, parent, BLOCK, text)
    current = client.get_experiment(exp_id).tags.get(notes.NOTE_TAG)
    note = notes.compose(current, BLOCK, text)
    if note != (current or ''):
        client.set_experiment_tag(exp_id, notes.NOTE_TAG, note)
    return text


def publish_ranking_if_online(client, study, spec: StudySpec) -> None:
    """:func:`publish_ranking`, which reads the trials' runs from MLflow; while the server does not answer,
    `jedi sync SPEC` publishes it with the records it sends."""
    from jedi_repro.tracking.offline import is_outage
    if not client.catch_up(force=True):
        return
    try:
        publish_ranking(client, study, spec)
    except Exception as exc:  # noqa: BLE001 - an outage since: left to `jedi sync`, anything else raised
        if not (is_outage(exc) or client.behind):
            raise


def send_left_records(client) -> None:
    """Send the records that the study's other processes left when they ended during an outage (one that
    still runs sends its own)."""
    from jedi_repro.tracking.offline import pending_count, probe, sync_all
    if client.peers is None or probe(client.tracking_uri) is not None:
        return
    client.catch_up(force=True)
    dirs = [d for d in sorted(client.peers.iterdir()) if d != client.run_dir and pending_count(d)]
    try:
        sent = sync_all(dirs, client.tracking_uri, say=lambda _: None)
    except JediError as exc:  # the server went away again: they stay for `jedi sync`
        print(f'warning: {exc}', file=sys.stderr, flush=True)
        return
    client.catch_up(force=True)  # its own records may name runs those records opened
    n = sum(s for s, _ in sent.values())
    if n:
        print(f'{n} MLflow record(s) that earlier processes of this study kept during an outage were sent',
              file=sys.stderr, flush=True)


def prepare(spec: StudySpec, url: str, client) -> Any:
    """Create/load the study, its MLflow experiment and parent run; recover stale trials; fill the grid."""
    from jedi_repro.studies.worker import SERVER_SCHEMES, TRACKING_ATTR
    from jedi_repro.tracking.runs import (
        base_tags,
        get_or_create_experiment,
        log_params,
        reopen_run,
        start_run,
    )

    study = load_study(spec, url, create=True)
    exp_id = get_or_create_experiment(client, spec.name)
    uri = getattr(client, 'tracking_uri', '') or ''
    if uri.startswith(SERVER_SCHEMES) and study.user_attrs.get(TRACKING_ATTR) != uri:
        study.set_user_attr(TRACKING_ATTR, uri)  # workers started apart find the tracking server here
    parent = study.user_attrs.get(PARENT_ATTR)
    if parent is None:
        tags = {**base_tags(spec.name, spec.features), 'jedi.spec': str(spec.path),
                'jedi.seeds': ','.join(map(str, spec.seeds))}
        tags[OBJECTIVES_TAG] = json.dumps([[o.metric, o.direction] for o in spec.objectives])
        parent = start_run(client, exp_id, 'study', spec.name, tags)
        study.set_user_attr(PARENT_ATTR, parent)
        study.set_user_attr(EXPERIMENT_ATTR, exp_id)
        client.log_text(parent, spec.path.read_text(), 'study_spec.yaml')
        log_params(client, parent, study_params(spec))
        describe_experiment(client, exp_id, spec)
    else:
        reopen_run(client, parent)
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

    from jedi_repro.tracking.offline import finish, study_client
    from jedi_repro.tracking.runs import close_orphaned_runs, end_run, log_metrics, set_tags

    if workers < 0:
        raise JediError(f'--workers must be at least 0, got {workers}')
    check_budget_flags(n_trials, timeout_s)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_spec(spec_path)
    check_against_store(spec)
    from jedi_repro.atomic import check_writable
    from jedi_repro.tracking.offline import preflight
    check_writable(workspace.root(), 'the workspace root (JEDI_HOME: study journal, work dirs, logs)')
    preflight()  # an unreachable tracking server: one paragraph in seconds, before the study is touched
    url = storage_url(spec, storage)
    check_storage(url)  # before the MLflow store or the study is touched
    if url.startswith('sqlite:') and workers > 1:
        print('warning: SQLite storage locks under parallel workers; prefer the default journal file',
              file=sys.stderr)
    n_trials = n_trials if n_trials is not None else spec.n_trials
    timeout_s = timeout_s if timeout_s is not None else spec.timeout_s
    # quiet: the console hears of an outage once, for the whole study (TrackingWatch, then done())
    client = study_client(workspace.work_dir(spec.name), 'runner', sync_hint=f'jedi sync {spec.path}',
                          say=lambda _: None)
    done = functools.partial(finish, client, f'study {spec.name}', whole_study=True,
                             say=lambda text: print(text, file=sys.stderr, flush=True))
    send_left_records(client)
    close_orphaned_runs(client)
    t0 = time.time()
    study = prepare(spec, url, client)
    before = state_counts(study)
    parent = study.user_attrs[PARENT_ATTR]
    total = _target(study, spec, n_trials)
    deadline = t0 + timeout_s if timeout_s else None
    if workers == 0:
        try:
            return _prepare_only(study, spec, url, client, n_trials, t0)
        finally:
            done()
    logs = workspace.path('studies', spec.name, 'logs', mkdir=True)
    if _nothing_to_do(study, spec, n_trials):
        procs = []
        print(f'study {spec.name}: nothing left to run', flush=True)
    else:
        check_space(spec, study, total)
        procs = [_spawn(spec, url, i, n_trials, deadline, train_fn, logs, workers, reuse)
                 for i in range(workers)]
    try:
        codes = _wait(procs, study, total, progress, TrackingWatch(client))
    except KeyboardInterrupt:
        # the workers are stopped; close what they could not: their trials interrupted, runs KILLED
        send_left_records(client)
        interrupted = recovery.close_interrupted_trials(study, client if not client.behind else None)
        if not client.behind:
            close_orphaned_runs(client)
        end_run(client, parent, 'KILLED')
        done()
        print(f'study {spec.name}: interrupted' + (f'; trial(s) {interrupted} will run again (no retry used) '
              f'when you re-run `jedi study run {spec.path}`' if interrupted else ''), file=sys.stderr,
              flush=True)
        raise
    counts = state_counts(study)
    wall = time.time() - t0
    died = [(i, c) for i, c in enumerate(codes) if c != 0]
    best, best_tags = _best_values(study, spec)
    if best:
        log_metrics(client, parent, best)
        set_tags(client, parent, best_tags)
    send_left_records(client)  # the workers' records they could not send (their server came back since)
    publish_ranking_if_online(client, study, spec)
    for line in best_lines(study, spec):
        print(f'study {spec.name}: {line}', flush=True)
    elsewhere = _running_elsewhere(study)
    if elsewhere and not died:  # workers this runner did not start still run trials: leave the study open
        print(f'study {spec.name}: trial(s) {elsewhere} still run in workers started elsewhere; the study '
              f'stays open (`jedi study run {spec.path} --workers 0` closes it once they end)', flush=True)
    else:
        end_run(client, parent, 'FAILED' if died else 'FINISHED')
    done()
    summary = {'study': spec.name, 'storage': url, 'counts': counts, 'wall_s': wall,
               'new': {k: v - before.get(k, 0) for k, v in counts.items() if v - before.get(k, 0) > 0},
               'workers_started': len(procs), 'worker_exit_codes': codes, 'logs': str(logs)}
    if died:
        what = '; '.join(f'worker {i} ' + (f'was killed by signal {-c}' if c < 0 else f'exited with {c}')
                         + f' (log {logs / f"worker-{i}.log"})' for i, c in died)
        raise JediError(f'study {spec.name}: {what}. Trials it left RUNNING are failed and retried once when '
                        f'you re-run `jedi study run {spec.path}`.')
    return summary


def check_budget_flags(n_trials, timeout_s) -> None:
    """``--n-trials`` and ``--timeout`` follow the rules of the spec's ``budget`` fields."""
    if n_trials is not None and (isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1):
        raise JediError(f'--n-trials must be a positive integer (like budget.n_trials), got {n_trials!r}')
    if timeout_s is not None and not timeout_s > 0:
        raise JediError(f'--timeout must be a positive number of seconds (like budget.timeout_s), got '
                        f'{timeout_s!r}')


def exit_verdict(summary: dict) -> str | None:
    """Why a finished ``jedi study run`` is not a success (None: it is): no trial of the study completed,
    or every trial this invocation finished failed. Automation reads the exit code. (Not asked of
    ``--workers 0``, which only prepares or closes a study for workers started apart.)"""
    done = summary['counts'].get('COMPLETE', 0) + summary['counts'].get('PRUNED', 0)
    new = summary.get('new') or {}
    new_ok = new.get('COMPLETE', 0) + new.get('PRUNED', 0)
    if new.get('FAIL', 0) and not new_ok:
        return f'all {new["FAIL"]} trial(s) it ran failed'
    if not done:
        return 'no trial of the study has completed'
    return None


def _running_elsewhere(study) -> list[int]:
    """Numbers of RUNNING trials whose worker is alive (workers of other runners or machines)."""
    from optuna.trial import TrialState

    return [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if not recovery.is_stale(t)]


def _prepare_only(study, spec: StudySpec, url: str, client, n_trials: int | None, t0: float) -> dict:
    """``--workers 0``: the study is ready for workers started apart; closed once nothing is left."""
    from optuna.trial import TrialState

    from jedi_repro.tracking.runs import end_run, log_metrics, set_tags

    parent = study.user_attrs[PARENT_ATTR]
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    finished = _nothing_to_do(study, spec, n_trials) and not running
    if finished:
        best, best_tags = _best_values(study, spec)
        if best:
            log_metrics(client, parent, best)
            set_tags(client, parent, best_tags)
        publish_ranking_if_online(client, study, spec)
        end_run(client, parent, 'FINISHED')
        print(f'study {spec.name}: nothing left to run; study closed', flush=True)
    else:
        # the parent run stays open after this process exits: no owner, so no sweep closes it as orphaned
        set_tags(client, parent, {'jedi.pid': ''})
        print(f'study {spec.name}: prepared in {url}; {len(running)} trial(s) running. Start workers with '
              f'`jedi study worker {spec.path} --storage {url}`, then re-run this command when they end '
              '(it retries trials of workers that died and closes the study)', flush=True)
    return {'study': spec.name, 'storage': url, 'counts': state_counts(study), 'wall_s': time.time() - t0,
            'workers_started': 0, 'worker_exit_codes': [], 'logs': '', 'closed': finished}


def _nothing_to_do(study, spec: StudySpec, n_trials: int | None) -> bool:
    """A grid with no waiting point, or a used-up trial budget: starting workers would only cost time."""
    from optuna.trial import TrialState

    from jedi_repro.studies.worker import budget_used

    if spec.is_grid and not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        return True
    return n_trials is not None and budget_used(study) >= n_trials


def worker_env(workers: int, environ=None, cpus: int | None = None) -> dict:
    """The workers' environment: the cores shared out between them unless ``OMP_NUM_THREADS`` is set, and
    verbose mmengine logging (into the worker's log file; the runner prints one line per finished trial).

    Each torch process otherwise starts one thread per core; N such workers on N cores spin against each
    other (measured: 1.0 s per iteration instead of 0.15 s with 2 workers on 2 cores).
    """
    env = dict(os.environ if environ is None else environ)
    env[VERBOSE_ENV] = '1'  # the worker's log file takes mmengine's full stream; the console a line per trial
    if not env.get('OMP_NUM_THREADS') and not env.get('JEDI_NUM_THREADS'):
        from jedi_repro.engine.threads import usable_cpus  # affinity and cgroup quota, not the machine's
        env['OMP_NUM_THREADS'] = str(max(1, (cpus or usable_cpus()) // max(1, workers)))
    return env


def _spawn(spec, url, index, n_trials, deadline, train_fn, logs: Path, workers: int = 1,
           reuse: bool = True) -> subprocess.Popen:
    """Start worker ``index`` in its own process group (a terminal's Ctrl-C reaches the runner only, which
    stops the workers in order) that dies with the runner (``PR_SET_PDEATHSIG``: no orphans)."""
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
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=worker_env(workers),
                                start_new_session=True, preexec_fn=die_with_parent)
    finally:
        log.close()  # the child holds its own descriptor


STOP_GRACE_S = 30.0  # how long workers get to close their trials after Ctrl-C before they are killed


class TrackingWatch:
    """Says on the runner's console, once, that the workers' tracking is behind (their own notices go to
    their logs), and once that it caught up; looks every ``every_s`` seconds."""

    def __init__(self, client, every_s: float = 5.0):
        self.client, self.every_s, self.behind, self.next = client, every_s, False, 0.0

    def __call__(self, say) -> None:
        from jedi_repro.tracking.offline import shown_uri, study_pending
        if self.client.peers is None or time.monotonic() < self.next:
            return
        self.next = time.monotonic() + self.every_s
        left = study_pending(self.client.peers)
        uri = shown_uri(self.client.tracking_uri)
        if left and not self.behind:
            say(f'warning: MLflow at {uri} does not answer; the study goes on, its processes keep their '
                f'MLflow records in {self.client.peers} and send them when it answers again '
                f'(`{self.client.sync_hint}` sends what is left)')
        elif self.behind and not left:
            say(f'MLflow at {uri} answers again: the study\'s MLflow records are up to date')
        self.behind = bool(left)


def _wait(procs: list[subprocess.Popen], study, total: int | None, progress: bool,
          watch=None) -> list[int]:
    """Wait for every worker, with a progress bar of finished trials.

    Ctrl-C (or SIGTERM) stops the workers: each gets one SIGINT and ``STOP_GRACE_S`` to mark its trial
    interrupted and close its runs; a second Ctrl-C, or the grace running out, kills them. Then the
    KeyboardInterrupt propagates.
    """
    from tqdm import tqdm

    bar = tqdm(total=total, desc=f'study {study.study_name}', unit='trial', disable=not progress,
               file=sys.stderr)
    from jedi_repro.console import HEARTBEAT_S

    seen = {t.number for t in _finished(study)}  # finished before this run: not announced again
    t0 = spoke = time.monotonic()
    before = len(seen)
    try:
        while any(p.poll() is None for p in procs):
            _update(bar, study)
            if watch is not None:
                watch(lambda text: bar.write(text, file=sys.stderr))
            if announce_finished(bar, study, seen):
                spoke = time.monotonic()
            elif time.monotonic() - spoke > HEARTBEAT_S:  # a trial can take minutes: no long silence
                bar.write('  ' + progress_line(study, len(seen) - before, total, time.monotonic() - t0),
                          file=sys.stdout)
                spoke = time.monotonic()
            time.sleep(1.0)
    except KeyboardInterrupt:
        stop_workers(procs)
        raise
    finally:
        _update(bar, study)
        announce_finished(bar, study, seen)
        bar.close()
    return [p.returncode for p in procs]


def stop_workers(procs: list[subprocess.Popen], grace_s: float = STOP_GRACE_S) -> None:
    """SIGINT every live worker's group, wait up to ``grace_s``; SIGKILL what is left (also on Ctrl-C)."""
    live = [p for p in procs if p.poll() is None]
    if not live:
        return
    print(f'\nstopping {len(live)} worker(s): closing their trials (Ctrl-C again to kill them)',
          file=sys.stderr, flush=True)
    _signal_groups(live, signal.SIGINT)
    deadline = time.time() + grace_s
    try:
        while any(p.poll() is None for p in live) and time.time() < deadline:
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    _signal_groups([p for p in live if p.poll() is None], signal.SIGKILL)
    for p in live:
        p.wait()


def _signal_groups(procs: list[subprocess.Popen], sig: int) -> None:
    for p in procs:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass


def _update(bar, study) -> None:
    from optuna.trial import TrialState

    finished = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                                    TrialState.FAIL))
                if not t.user_attrs.get(recovery.INTERRUPTED_ATTR)]  # those run again: not done
    bar.n = len(finished)
    bar.refresh()


def check_space(spec: StudySpec, study, total: int | None) -> None:
    """Refuse, before a worker starts, a study whose runs left will not fit on the disk of its work dirs, as
    its finished runs measure a run (a first study run has none to measure: nothing is checked)."""
    from optuna.trial import TrialState

    from jedi_repro.atomic import check_free_space
    root = workspace.work_dir(spec.name)
    sizes = [sum(f.stat().st_size for f in m.parent.rglob('*') if f.is_file())
             for m in root.glob('trial_*/seed_*/metrics.json')]
    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
    if not sizes or total is None or total <= done:
        return
    runs = (total - done) * len(spec.seeds)
    check_free_space(root, max(sizes) * runs, f'study {spec.name}: {runs} run(s) left at up to {max(sizes)} '
                     'bytes each (its largest finished run)')


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


def _best_values(study, spec: StudySpec) -> tuple[dict[str, float], dict[str, str]]:
    """The parent run's ``best/{metric}`` per objective (``jedi_repro.studies.best``) and the trial names."""
    from jedi_repro.studies.best import parent_record, study_best
    return parent_record(study_best(study, [o.metric for o in spec.objectives]))


def best_lines(study, spec: StudySpec) -> list[str]:
    """The console's best trial per objective, in the words the report and the parent run use."""
    from jedi_repro.studies.best import study_best
    from jedi_repro.studies.objective import is_single_point
    from jedi_repro.tracking.provenance import dataset_metrics

    try:
        metrics = dataset_metrics(spec.features)
    except Exception:  # noqa: BLE001 - a store gone since the run: the metric is named generically
        metrics = None
    return [b.line(metrics, single=is_single_point(spec))
            for b in study_best(study, [o.metric for o in spec.objectives]) if b is not None]


def study_status(spec_path: str | Path, storage: str | None = None, top: int = 5) -> str:
    """A text report: trials by state, grid progress, the best trials (Pareto front if multi-objective)."""
    from optuna.trial import TrialState

    spec = load_spec(spec_path, check_paths=False)
    url = storage_url(spec, storage)
    if storage is None and not Path(url).exists():
        return f'study {spec.name}: not started (no journal at {url})'
    study = load_study(spec, url)
    counts = state_counts(study)
    gone = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if recovery.is_stale(t)]
    if gone:  # their worker died: not running, although the storage says so until the next run
        counts['RUNNING'] -= len(gone)
        counts = {k: v for k, v in counts.items() if v}
        counts['WORKER_GONE'] = len(gone)
    lines = [f'study {spec.name}  storage {url}',
             f'  seeds {spec.seeds}  sampler {spec.sampler["type"]}  pruner {spec.pruner["type"]}',
             '  trials: ' + (', '.join(f'{k.lower().replace("_", " ")} {v}'
                                       for k, v in sorted(counts.items())) or 'none')]
    if gone:
        lines.append(f'  trial(s) {gone} lost their worker: failed and retried at the next `jedi study run`')
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
        vals = ', '.join(f'{pct(v)} %' for v in t.values)
        params = ', '.join(f'{k}={v!r}' for k, v in decode(spec.space, t.params).items())
        lines.append(f'    #{t.number:<4d} {vals}   {params}')
    return '\n'.join(lines)


def _finished(study) -> list:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))


def announce_finished(bar, study, seen: set[int]) -> int:
    """Print :func:`trial_line` (above the progress bar) for every trial finished since the last call;
    returns how many."""
    count = 0
    for t in sorted(_finished(study), key=lambda t: t.number):
        if t.number not in seen:
            seen.add(t.number)
            bar.write('  ' + trial_line(t, study.metric_names), file=sys.stdout)
            count += 1
    return count


def progress_line(study, finished_here: int, total: int | None, elapsed_s: float) -> str:
    """``study demo_fusion: 1 of 4 trials finished, 2 running, 3 min 10 s elapsed, ~9 min 30 s left``: what
    a study says while no trial finishes (the time left at this invocation's rate so far)."""
    from optuna.trial import TrialState

    from jedi_repro.console import duration, eta_s

    done = len(_finished(study))
    running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    line = (f'study {study.study_name}: {done}' + (f' of {total}' if total else '') + ' trials finished, '
            f'{running} running, {duration(elapsed_s)} elapsed')
    left = eta_s(finished_here, elapsed_s, total - done) if total else None
    return line + (f', ~{duration(left)} left' if left is not None else '')


def trial_line(trial, metric_names: list[str] | None = None) -> str:
    """One line per finished trial: what varies, its state, its value(s) and each role's mean of the
    datasets' primary metrics on validation (``jedi_repro.aggregates``).

    ``trial-0003 fusion=logits  complete  val/mean/teacher/primary 11.59 %  val mean primary, %: expert
    11.70 student 17.30 teacher 11.60  (7 s)``; the name is the trial's MLflow run name (the decoded values).
    """
    from jedi_repro.studies.objective import RUN_NAME_ATTR, SUMMARY_ATTR, run_name

    interrupted = trial.state.name == 'FAIL' and trial.user_attrs.get(recovery.INTERRUPTED_ATTR)
    words = [trial.user_attrs.get(RUN_NAME_ATTR) or run_name(trial.number, trial.params),
             'interrupted' if interrupted else trial.state.name.lower()]
    if trial.values:
        names = metric_names or [f'value {i}' for i in range(len(trial.values))]
        words.append('  '.join(f'{n} {pct(v)} %' for n, v in zip(names, trial.values)))
    summary = trial.user_attrs.get(SUMMARY_ATTR) or {}
    if summary:  # the mean of each dataset's primary metric (jedi_repro.aggregates), in %
        words.append('val mean primary, %: ' + ' '.join(f'{r} {pct(v)}' for r, v in summary.items()))
    line = '  '.join(words)
    return line + (f'  ({trial.duration.total_seconds():.0f} s)' if trial.duration is not None else '')
