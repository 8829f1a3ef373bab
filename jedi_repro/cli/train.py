"""`jedi train`: train JEDI students and teachers on a feature store."""
from __future__ import annotations

import argparse


def register(sub):
    p = sub.add_parser(
        'train', help='Train JEDI students and teachers on a feature store',
        description='Train JEDI (or, with a config without JEDIDistillHook, the student fine-tuning '
                    'baseline) on a feature store; writes WORK_DIR/metrics.json, mmengine logs and the best '
                    'checkpoint.', formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='example:\n  jedi train mm_configs/jedi/jedi_default.py --features jedi_work/features/toy '
               '--work-dir jedi_work/work_dirs/run1 --cfg-options model.gamma=0.2 train_cfg.max_epochs=5')
    p.add_argument('config', help='config file, e.g. mm_configs/jedi/jedi_default.py')
    p.add_argument('--features', required=True, help='feature store directory')
    p.add_argument('--work-dir', required=True, help='run directory (created)')
    p.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                   help='override config keys, e.g. model.fusion.type=mean data.labeled_fraction=0.1; '
                        'an unknown key is an error')
    p.add_argument('--seed', type=int, default=None, help='overrides randomness.seed')
    p.add_argument('--resume', action='store_true',
                   help='continue an interrupted run from WORK_DIR/last.pth (and its MLflow run); the '
                        'result equals an uninterrupted run\'s. Without a last.pth the run starts afresh')
    p.add_argument('--overwrite', action='store_true',
                   help='replace a finished run in WORK_DIR (its files are removed once the new config '
                        'passed its checks); without it a finished work dir is refused')
    p.add_argument('--experiment', default='jedi-train',
                   help='MLflow experiment of this run (default jedi-train); per-epoch val/ and final test/ '
                        'metrics, params and artifacts are logged to the workspace tracking URI')
    p.add_argument('--no-mlflow', action='store_true', help='do not log this run to MLflow')
    p.add_argument('--mlflow-offline', action='store_true',
                   help='train without the tracking server: the run\'s MLflow record is kept in '
                        'WORK_DIR/mlflow_pending.jsonl and `jedi sync WORK_DIR` sends it later (also '
                        'JEDI_MLFLOW_OFFLINE=1). Without it an unreachable server is refused before any '
                        'work, and an outage during the run is recorded the same way and sent when the '
                        'server answers again')
    p.add_argument('--launcher', choices=['none', 'pytorch'], default=None,
                   help='pytorch: one process of a distributed run started by `torchrun --nproc_per_node N '
                        '-m jedi_repro.cli train ...` (gloo on CPU, nccl on GPU unless env_cfg.dist_cfg sets '
                        'the backend; batch sizes stay global); default: the config\'s launcher, else none')
    p.add_argument('--no-reuse', action='store_true',
                   help='train even if a finished run of the same resolved config, feature store, seed and '
                        'code version exists (default: adopt its metrics.json, tagged jedi.reused_from)')
    p.set_defaults(func=_run)
    return p


def parse_cfg_options(items) -> dict:
    """``['a.b=1', 'c=[1,2]']`` -> ``{'a.b': 1, 'c': [1, 2]}`` (mmengine's ``DictAction`` value rules)."""
    from mmengine.config import DictAction

    from jedi_repro.errors import JediError
    out = {}
    for item in items:
        if '=' not in item:
            raise JediError(f'--cfg-options {item!r} must look like KEY=VALUE')
        key, val = item.split('=', 1)
        if key in out:  # the last would win silently
            raise JediError(f'--cfg-options {key} is given twice ({key}={out[key]!r} and {item!r})')
        out[key] = DictAction._parse_iterable(val)
    return out


def train_logged(config, features, work_dir, cfg_options=None, seed=None,
                 experiment: str | None = 'jedi-train', resume: bool = False,
                 launcher: str | None = None, reuse: bool = True,
                 offline: bool = False) -> tuple[dict, str | None]:
    """``train()`` as one MLflow run: per-epoch ``val/...`` and final ``test/...`` metrics.

    ``experiment=None`` trains untracked. Returns the metrics dict and the MLflow run id (``None`` when
    untracked). A failed training ends its run as FAILED, an interrupted one (Ctrl-C, SIGTERM) as KILLED;
    runs of earlier ``jedi train`` processes that died without closing theirs are closed first. Under
    torchrun only rank 0 logs. With ``reuse`` a finished run of the same key (``jedi_repro.engine.reuse``)
    is adopted instead of trained, and a new one is indexed (single-process runs; a resumed run ends with
    the metrics of an uninterrupted one, so it is indexed too).

    A tracking server that does not answer is refused before any work unless ``offline``; an outage
    during the run, or ``offline``, keeps the run's MLflow record in the work dir
    (``jedi_repro.tracking.offline``), sent when the server answers again or by ``jedi sync``.
    """
    from jedi_repro.engine import reuse as reuse_runs
    from jedi_repro.engine.distributed import env_rank
    tracked = experiment is not None and not (launcher == 'pytorch' and env_rank() != 0)
    if tracked and not offline:
        from jedi_repro.tracking.offline import preflight
        preflight()  # seconds, not MLflow's minutes of retries; before the first epoch
    key = (reuse_runs.key_for(config, features, work_dir, cfg_options, seed)
           if reuse and launcher != 'pytorch' else None)
    found = reuse_runs.lookup(key) if key else None
    if found:
        return reuse_runs.adopt_logged(found, config, features, work_dir, seed, experiment, offline)
    m, run_id = _train_logged(config, features, work_dir, cfg_options, seed, experiment, resume, launcher,
                              offline)
    if key:
        reuse_runs.record(key, work_dir, m, run_id)
    return m, run_id


def _train_logged(config, features, work_dir, cfg_options, seed, experiment, resume,
                  launcher, offline=False) -> tuple[dict, str | None]:
    from jedi_repro.engine.distributed import env_rank
    from jedi_repro.engine.train import train
    if experiment is None or (launcher == 'pytorch' and env_rank() != 0):
        return train(config, features=features, work_dir=work_dir, cfg_options=cfg_options, seed=seed,
                     resume=resume, launcher=launcher), None

    from jedi_repro.tracking import end_run, log_train_run, start_train_run
    from jedi_repro.tracking.hook import MLflowMetricsHook
    from jedi_repro.tracking.offline import BufferedClient, is_outage
    from jedi_repro.tracking.runs import close_orphaned_runs

    class OpenRunAtStart(MLflowMetricsHook):
        """Opens the run once the Runner exists: a config that fails validation leaves no MLflow run."""

        def before_run(self, runner) -> None:
            if self.run_id is None:  # train() runs a second Runner for the final test
                client = BufferedClient(work_dir, offline=offline)
                if not client.behind:
                    try:
                        close_orphaned_runs(client)
                    except Exception as exc:  # noqa: BLE001 - the server left since the preflight
                        if not is_outage(exc):
                            raise
                self.client, self.run_id = start_train_run(work_dir, features=features, experiment=experiment,
                                                           seed=seed, client=client, resume=resume)

    hook = OpenRunAtStart(client=None, run_id=None)
    try:
        m = train(config, features=features, work_dir=work_dir, cfg_options=cfg_options,
                  extra_hooks=[hook], seed=seed, resume=resume, launcher=launcher)
    except BaseException as exc:
        if hook.run_id:
            end_run(hook.client, hook.run_id, 'KILLED' if isinstance(exc, KeyboardInterrupt) else 'FAILED')
        raise
    log_train_run(m, config, work_dir, features=features, experiment=experiment, client=hook.client,
                  run_id=hook.run_id)
    hook.client.catch_up(force=True)  # the end of the run: one more try before leaving it to `jedi sync`
    return m, hook.client.run_id(hook.run_id)


def run_summary(metrics: dict) -> str:
    """Each role's mean of the datasets' primary metrics (``jedi_repro.aggregates``) on test and on
    validation (where each role's checkpoint was chosen)."""
    from jedi_repro.aggregates import pct

    sel, conv = metrics.get('selection', {}), metrics.get('convergence', {})
    lines = []
    for role in ('expert', 'student', 'teacher'):
        if metrics['mean'].get(role) is None:  # a role the run did not train (engine/untrained.py)
            lines.append(f'  mean {role:8s} not trained')
            continue
        epoch = '' if role == 'expert' else f' (epoch {(sel.get(role) or {}).get("epoch")})'
        key = 'primary' if 'primary' in metrics['mean'][role] else 'top1'  # runs older than `primary`
        lines.append(f'  mean {role:8s} {key} test {pct(metrics["mean"][role][key])} %, '
                     f'val {pct(metrics["val"]["mean"][role][key])} %{epoch}')
    state = 'reached a validation plateau' if conv.get('converged') else 'did NOT reach a validation plateau'
    lines.append(f'  {conv.get("last_epoch")} epochs, {state}; primary = the mean over datasets of each '
                 "dataset's primary metric (top-1, or mAP where the store declares it)")
    return '\n'.join(lines)


def check_places(work_dir, tracked: bool, reuse: bool) -> None:
    """Refuse a work dir, or a workspace root the run writes to (reuse index, local MLflow database), that
    cannot be written: before the first epoch, in every mode."""
    from jedi_repro import workspace
    from jedi_repro.atomic import check_writable
    from jedi_repro.tracking.offline import is_remote
    check_writable(work_dir, '--work-dir')
    if reuse or (tracked and not is_remote(workspace.mlflow_uri())):
        check_writable(workspace.root(), 'the workspace root (JEDI_HOME)')


def _run(args) -> int:
    from jedi_repro.engine.finished_run import clear_finished, guard_work_dir
    from jedi_repro.errors import JediError
    from jedi_repro.tracking.offline import offline_requested
    if args.no_mlflow and args.mlflow_offline:
        raise JediError('--no-mlflow and --mlflow-offline exclude each other (log nothing, or keep the '
                        'MLflow record in the work dir for `jedi sync`)')
    offline = offline_requested(args.mlflow_offline) and not args.no_mlflow
    done = guard_work_dir(args.work_dir, resume=args.resume, overwrite=args.overwrite)
    if done is not None:  # --resume of a finished run: nothing to continue, no second MLflow run
        print(f'{args.work_dir} holds a finished run: nothing to resume (its metrics.json is unchanged; no '
              'MLflow run opened)')
        print(run_summary(done) if done.get('mean') and done.get('val') else '')
        return 0
    check_places(args.work_dir, tracked=not args.no_mlflow, reuse=not args.no_reuse)
    if args.overwrite:
        from jedi_repro.engine.train import prepare_config
        prepare_config(args.config, args.features, args.work_dir, parse_cfg_options(args.cfg_options),
                       args.seed)  # the new run passes every check before the old one is removed
        clear_finished(args.work_dir)
    from jedi_repro.atomic import disk_error, is_disk_error
    try:
        m, run_id = train_logged(args.config, args.features, args.work_dir,
                                 cfg_options=parse_cfg_options(args.cfg_options), seed=args.seed,
                                 experiment=None if args.no_mlflow else args.experiment, resume=args.resume,
                                 launcher=args.launcher, reuse=not args.no_reuse, offline=offline)
    except OSError as exc:  # a write to an open file (mmengine's log, its scalars) names no path: the run's
        if not is_disk_error(exc) or exc.filename:
            raise
        raise disk_error(exc, args.work_dir) from None
    from jedi_repro.engine.distributed import env_rank
    if args.launcher == 'pytorch' and env_rank() != 0:
        return 0  # rank 0 wrote metrics.json and the MLflow run
    if m.get('reused_from'):
        print(f'reused the finished run in {m["reused_from"]["work_dir"]} (same resolved config, feature '
              'store, seed and code version; --no-reuse retrains)')
    print(f'metrics.json written to {args.work_dir}')
    from jedi_repro.tracking.offline import PENDING, BufferedClient
    if run_id and BufferedClient(args.work_dir, offline=True).pending_count():
        print(f'MLflow record of this run kept in {args.work_dir}/{PENDING} (the tracking server was not '
              f'used or did not answer): `jedi sync {args.work_dir}` sends it')
    elif run_id:
        print(f'MLflow run {run_id} (experiment {args.experiment}); browse with `jedi ui`')
    print(run_summary(m))
    return 0
