"""`jedi sync`: send the MLflow record a run kept while the tracking server did not answer."""
from __future__ import annotations

import argparse


def register(sub):
    p = sub.add_parser(
        'sync', help='Send the MLflow records runs kept while the tracking server was unreachable',
        description='A run trained with --mlflow-offline, or during a tracking outage, keeps its MLflow '
                    'record in WORK_DIR/mlflow_pending.jsonl. `jedi sync` sends what was not sent yet to the '
                    'tracking URI the run used (or --tracking-uri); twice gives the same MLflow record.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='examples:\n  jedi sync jedi_work/work_dirs/run1\n  jedi sync studies/ablation_gamma.yaml   '
               '(every run dir of the study)\n  jedi sync jedi_work/work_dirs   (every run dir below)')
    p.add_argument('target', help='a run work dir, a directory holding run dirs, or a study spec (YAML)')
    p.add_argument('--tracking-uri', default=None,
                   help='send there instead of the URI the run recorded (e.g. the server moved)')
    p.add_argument('--storage', default=None,
                   help="a study spec's Optuna storage URL (default: its journal in the workspace): once "
                        'its records are sent, its ranking is published on its MLflow page')
    p.set_defaults(func=_run)
    return p


def _run(args) -> int:
    from pathlib import Path

    from jedi_repro import workspace
    from jedi_repro.errors import JediError
    from jedi_repro.tracking.offline import pending_run_dirs, sync_all

    target, spec = Path(args.target), None
    if target.suffix in ('.yaml', '.yml') and target.is_file():
        from jedi_repro.studies.spec import load_spec
        spec = load_spec(target, check_paths=False)
        target = workspace.work_dir(spec.name)
    if not target.is_dir():
        raise JediError(f'{args.target} is neither a run work dir, a directory of runs nor a study spec')
    dirs = pending_run_dirs(target)
    if not dirs:
        print(f'{target}: no run below keeps a pending MLflow record; nothing to send')
    left, busy = 0, []
    for run_dir, (n, pending) in sync_all(dirs, args.tracking_uri, say=busy.append).items():
        left += pending
        print(f'{run_dir}: {n} record(s) sent' + (f', {pending} left' if pending else '') if n or pending
              else f'{run_dir}: up to date (nothing left to send)')
    if left:
        why = ' '.join(busy) or ('they name runs of the study whose records were not sent yet (a study '
                                 'process still running sends its own) or are gone')
        raise JediError(f'{left} record(s) under {target} are still pending: {why}')
    if spec is not None and dirs:
        _publish_ranking(spec, args.storage, args.tracking_uri)
    return 0


def _publish_ranking(spec, storage, tracking_uri) -> None:
    """The ranking a study's runner could not publish while the server was away (its MLflow page)."""
    from jedi_repro import workspace
    from jedi_repro.studies.runner import PARENT_ATTR, publish_ranking
    from jedi_repro.studies.storage import load_study, storage_url
    from jedi_repro.studies.worker import worker_tracking_uri
    from jedi_repro.tracking.offline import study_client

    study = load_study(spec, storage_url(spec, storage))
    if not study.user_attrs.get(PARENT_ATTR):
        return
    client = study_client(workspace.work_dir(spec.name), 'runner', tracking_uri or worker_tracking_uri(study))
    if publish_ranking(client, study, spec):
        print(f'study {spec.name}: ranking published on its MLflow page')
