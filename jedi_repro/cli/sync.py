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
    p.set_defaults(func=_run)
    return p


def _run(args) -> int:
    from pathlib import Path

    from jedi_repro import workspace
    from jedi_repro.errors import JediError
    from jedi_repro.tracking.offline import pending_run_dirs, sync

    target = Path(args.target)
    if target.suffix in ('.yaml', '.yml') and target.is_file():
        from jedi_repro.studies.spec import load_spec
        target = workspace.work_dir(load_spec(target, check_paths=False).name)
    if not target.is_dir():
        raise JediError(f'{args.target} is neither a run work dir, a directory of runs nor a study spec')
    dirs = pending_run_dirs(target)
    if not dirs:
        print(f'{target}: no run below keeps a pending MLflow record; nothing to send')
        return 0
    for run_dir in dirs:
        n = sync(run_dir, args.tracking_uri)
        print(f'{run_dir}: {n} record(s) sent' if n else f'{run_dir}: up to date (nothing left to send)')
    return 0
