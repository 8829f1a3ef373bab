"""Wall time of a study with 1 vs 2 worker processes, measured side by side (issue 5).

Runs ``jedi study run SPEC --workers W`` for each W in a fresh workspace (own journal and MLflow
database) whose ``features/demo`` is either a copy-free symlink to ``--store`` or, without it, a toy store
made by ``make_toy_store`` (say which in any report). Prints each wall time and the 1-worker/2-worker ratio.

Usage:
    .venv/bin/python benchmarks/bench_study_workers.py [--spec studies/ablation_gamma.yaml]
        [--store DIR] [--workers 1 2]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--spec', default=str(REPO / 'studies' / 'ablation_gamma.yaml'))
    p.add_argument('--store', default=None, help='feature store (default: a toy store, 3 datasets)')
    p.add_argument('--workers', type=int, nargs='+', default=[1, 2])
    p.add_argument('--toy-train', type=int, default=200, help='toy store: training samples per dataset')
    p.add_argument('--toy-dim', type=int, default=16, help='toy store: feature dim per expert')
    args = p.parse_args()
    jedi = str(Path(sys.executable).with_name('jedi'))
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(args.store).resolve() if args.store else Path(tmp) / 'toy'
        if not args.store:
            from jedi_repro.data.toy import make_toy_store
            make_toy_store(store, n_train=args.toy_train, dim=args.toy_dim, seed=0)
        what = ('given' if args.store
                else f'toy store, 3 datasets, n_train={args.toy_train}, dim={args.toy_dim}')
        print(f'store: {store} ({what})')
        print(f'load average before: {os.getloadavg()}')
        for w in args.workers:
            home = Path(tmp) / f'home_w{w}'
            (home / 'features').mkdir(parents=True)
            (home / 'features' / 'demo').symlink_to(store)
            # threads per worker: the runner's default (cores / workers) unless OMP_NUM_THREADS is set
            env = {**os.environ, 'JEDI_HOME': str(home)}
            env.pop('MLFLOW_TRACKING_URI', None)
            t0 = time.perf_counter()
            rc = subprocess.run([jedi, 'study', 'run', args.spec, '--workers', str(w), '--no-progress'],
                                env=env, cwd=REPO).returncode
            times[w] = time.perf_counter() - t0
            print(f'workers={w}: {times[w]:.1f} s (exit {rc})', flush=True)
            if rc != 0:
                return rc
    base = times[args.workers[0]]
    for w in args.workers[1:]:
        print(f'speed-up {args.workers[0]} -> {w} workers: {base / times[w]:.2f}x')
    return 0


if __name__ == '__main__':
    sys.exit(main())
