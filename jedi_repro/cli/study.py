"""`jedi study {run,status}`: run and inspect Optuna ablation and search studies."""
from __future__ import annotations


def register(sub):
    p = sub.add_parser('study', help='Run and inspect Optuna ablation and search studies',
                       description='Run and inspect declarative Optuna studies (studies/*.yaml; see '
                                   'studies/README.md). Every configuration is trained once per seed; '
                                   'results go to MLflow (jedi ui) and the study storage (optuna-dashboard).')
    ssub = p.add_subparsers(dest='study_command', metavar='ACTION', required=True)

    run = ssub.add_parser('run', help='run or continue a study',
                          description='Run (or continue: re-running resumes) a study in N worker processes '
                                      'against one storage. Trials whose worker died are failed and retried '
                                      'once; grid studies stop when every point is done.')
    run.add_argument('spec', metavar='SPEC', help='study spec (YAML)')
    run.add_argument('--workers', type=int, default=1,
                     help='worker processes (default 1); 0: only prepare the study (schema, MLflow '
                          'experiment and parent run, grid) for workers started apart with `jedi study '
                          'worker`, and close it once they are done')
    run.add_argument('--storage', default=None,
                     help='Optuna storage: RDB URL (postgresql://...) or journal file path '
                          '(default $JEDI_HOME/studies/<name>.journal)')
    run.add_argument('--n-trials', type=int, default=None,
                     help='total trials of the study (overrides budget)')
    run.add_argument('--timeout', type=float, default=None, help='seconds after which no new trial starts')
    run.add_argument('--no-progress', action='store_true', help='no progress bar')
    run.add_argument('--train-fn', default=None, metavar='MODULE:FUNCTION',
                     help='what trains one seed, importable by the workers (default '
                          'jedi_repro.engine.train:train; same signature and metrics.json contract)')
    run.add_argument('--no-reuse', action='store_true',
                     help='retrain every seed run even if a finished run of the same resolved config, '
                          'feature store, seed and code version exists (default: adopt it, tagged '
                          'jedi.reused_from)')
    run.set_defaults(func=_run)

    wk = ssub.add_parser('worker', help='serve a prepared study (one worker, e.g. one per machine)',
                         description='Run trials of a study prepared by `jedi study run SPEC --storage URL '
                                     '[--workers 0]` until none is left: start any number, on any machine '
                                     'that reaches the storage (postgresql://...) and the tracking server '
                                     '(MLFLOW_TRACKING_URI=http://..., else the one the study was prepared '
                                     'with). A worker started first waits for the study (--wait).')
    wk.add_argument('spec', metavar='SPEC', help='study spec (YAML)')
    wk.add_argument('--storage', default=None, help='as for `run` (the same URL)')
    wk.add_argument('--index', type=int, default=0,
                    help='worker index: offsets seeded samplers so workers do not propose the same points')
    wk.add_argument('--n-trials', type=int, default=None, help='total trials of the study (as for `run`)')
    wk.add_argument('--timeout', type=float, default=None, help='seconds after which no new trial starts')
    wk.add_argument('--wait', type=float, default=600.0,
                    help='seconds to wait for `jedi study run` to prepare the study (default 600)')
    wk.set_defaults(func=_worker)

    st = ssub.add_parser('status', help='progress and best trials of a study',
                         description='Print a study\'s trials by state, its grid progress and its best '
                                     'trials '
                                     'by the validation objective (the Pareto front for several objectives), '
                                     'read from its Optuna storage; starts nothing.')
    st.add_argument('spec', metavar='SPEC', help='study spec (YAML)')
    st.add_argument('--storage', default=None, help='as for `run`')
    st.add_argument('--top', type=int, default=5, help='how many best trials to list')
    st.set_defaults(func=_status)


def _run(args) -> int:
    from jedi_repro.studies.objective import DEFAULT_TRAIN_FN
    from jedi_repro.studies.runner import run_study

    s = run_study(args.spec, workers=args.workers, storage=args.storage, n_trials=args.n_trials,
                  timeout_s=args.timeout, progress=not args.no_progress,
                  train_fn=args.train_fn or DEFAULT_TRAIN_FN, reuse=not args.no_reuse)
    counts = ', '.join(f'{k.lower()} {v}' for k, v in sorted(s['counts'].items()))
    logs = f'; worker logs {s["logs"]}' if s['logs'] else ''
    print(f'study {s["study"]}: {counts}; {s["wall_s"]:.1f} s with {s["workers_started"]} worker(s); '
          f'storage {s["storage"]}{logs}')
    from jedi_repro.errors import JediError
    from jedi_repro.studies.runner import exit_verdict
    why = exit_verdict(s) if args.workers else None  # --workers 0 prepares: workers started apart run trials
    if why:
        raise JediError(f'study {s["study"]} did not succeed: {why} (see `jedi study status {args.spec}` and '
                        f'the worker logs in {s["logs"]})')
    return 0


def _worker(args) -> int:
    import time

    from jedi_repro.errors import JediError
    from jedi_repro.studies.runner import check_budget_flags
    from jedi_repro.studies.spec import load_spec
    from jedi_repro.studies.storage import storage_url
    from jedi_repro.studies.worker import run_worker
    check_budget_flags(args.n_trials, args.timeout)
    if args.index < 0 or not args.wait >= 0:
        raise JediError(f'--index must be >= 0 and --wait >= 0 seconds, got {args.index} and {args.wait}')
    url = storage_url(load_spec(args.spec), args.storage)
    deadline = time.time() + args.timeout if args.timeout else None
    n = run_worker(args.spec, url, args.index, args.n_trials, deadline, wait_s=args.wait)
    print(f'worker {args.index}: {n} trial(s) run; nothing left for this worker', flush=True)
    return 0


def _status(args) -> int:
    from jedi_repro.studies.runner import study_status

    if args.top < 1:
        from jedi_repro.errors import JediError
        raise JediError(f'--top must be at least 1, got {args.top}')
    print(study_status(args.spec, storage=args.storage, top=args.top))
    return 0
