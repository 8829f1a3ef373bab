"""What each piece of the scale-out recipe costs, measured side by side in one run (issue 11).

Prints one JSON line per measurement:

* ``train``: ``jedi train`` in 1 process vs ``torchrun --nproc_per_node 2 ... --launcher pytorch`` (gloo,
  CPU) on one toy store, same global batch and seed: wall seconds of each and their ratio.
* ``extract``: ``jedi extract`` in 1 process vs 2 torchrun processes on a rendered tiny data root
  (hmdb_like of the quick preset, an untrained X3D-S expert): wall seconds and ratio.
* ``services``: seconds to start a throwaway PostgreSQL cluster, to create the Optuna schema and the
  MLflow schema in it, and for ``jedi server`` to answer on /health.
* ``study``: the same grid study with the stub train (no training: the harness's own cost per trial)
  on a journal file + local SQLite MLflow vs PostgreSQL + the tracking server; seconds per trial each
  and their ratio.

On a 2-core machine shared with other jobs the torchrun ratios measure the coordination cost, not a
speed-up (2 processes compete for the same cores); on a cluster each process has its own cores or GPU.

Usage:
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_scale_out.py [--train-samples 2000] [--epochs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = str(REPO / 'mm_configs' / 'jedi' / 'jedi_default.py')


def _port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _timed(cmd, env) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f'failed ({done.returncode}): {" ".join(cmd)}\n{done.stderr[-3000:]}')
    return time.perf_counter() - t0


def _torchrun(n: int) -> list[str]:
    return [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', str(n), '--master_addr',
            '127.0.0.1', '--master_port', str(_port())]


def bench_train(tmp: Path, env: dict, n_train: int, epochs: int) -> dict:
    from jedi_repro.data.toy import make_toy_store
    make_toy_store(tmp / 'store', n_datasets=4, n_train=n_train, dim=256, seed=0)
    args = ['-m', 'jedi_repro.cli', 'train', CONFIG, '--features', str(tmp / 'store'), '--no-mlflow',
            '--cfg-options', f'train_cfg.max_epochs={epochs}', 'default_hooks.plateau.patience=1000']
    one = _timed([sys.executable, *args, '--work-dir', str(tmp / 't1')], env)
    two = _timed([*_torchrun(2), *args, '--work-dir', str(tmp / 't2'), '--launcher', 'pytorch'], env)
    m1 = json.loads((tmp / 't1' / 'metrics.json').read_text())['mean']
    m2 = json.loads((tmp / 't2' / 'metrics.json').read_text())['mean']
    return dict(bench='train', store=f'toy 4 datasets x {n_train} train, dim 256', epochs=epochs,
                wall_1proc_s=round(one, 2), wall_2proc_s=round(two, 2),
                ratio_2proc_over_1=round(two / one, 3), student_top1_1proc=m1['student']['top1'],
                student_top1_2proc=m2['student']['top1'],
                teacher_top1_1proc=m1['teacher']['top1'], teacher_top1_2proc=m2['teacher']['top1'])


def bench_extract(tmp: Path, env: dict) -> dict:
    import torch
    from mmaction.utils import register_all_modules
    from mmengine.registry import MODELS

    from jedi_repro.data.synth import generate
    from jedi_repro.data.synth.datasets import get_dataset
    from jedi_repro.experts.config import load_expert_config

    root = generate(tmp / 'root', 'quick', seed=0, datasets=(get_dataset('hmdb_like'),), log=None)
    register_all_modules(init_default_scope=True)
    config = REPO / 'mm_configs' / 'experts' / 'from_scratch' / 'x3d_hmdb_like.py'
    torch.manual_seed(0)
    torch.save(dict(state_dict=MODELS.build(load_expert_config(config).model).state_dict(), meta={}),
               tmp / 'expert.pth')
    args = ['-m', 'jedi_repro.cli', 'extract', '--data-root', str(root), '--experts',
            f'{config}={tmp / "expert.pth"}', '--no-cache']
    one = _timed([sys.executable, *args, '--out', str(tmp / 'x1')], env)
    two = _timed([*_torchrun(2), *args, '--out', str(tmp / 'x2'), '--launcher', 'pytorch'], env)
    from jedi_repro.data.feature_store import FeatureStore
    same = FeatureStore.open(tmp / 'x1').content_hash() == FeatureStore.open(tmp / 'x2').content_hash()
    return dict(bench='extract', data='hmdb_like quick preset (48 clips), X3D-S', wall_1proc_s=round(one, 2),
                wall_2proc_s=round(two, 2), ratio_2proc_over_1=round(two / one, 3), same_content_hash=same)


def _study(tmp: Path, env: dict, name: str, storage: str | None, store: Path) -> float:
    spec = tmp / f'{name}.yaml'
    spec.write_text(f'name: {name}\nbase_config: {CONFIG}\nfeatures: {store}\nseeds: [0, 1]\n'
                    'space:\n  model.gamma: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]\nsampler: grid\n'
                    'objective: mean/teacher/top1\n')
    from jedi_repro.studies.runner import run_study
    old = dict(os.environ)
    os.environ.update(env)
    try:
        t0 = time.perf_counter()
        run_study(spec, workers=2, storage=storage, train_fn='stub_train:train', progress=False)
        return (time.perf_counter() - t0) / 6
    finally:
        os.environ.clear()
        os.environ.update(old)


def bench_services_and_study(tmp: Path, env: dict) -> list[dict]:
    from jedi_repro.data.toy import make_toy_store
    from jedi_repro.tracking.postgres import LocalPostgres
    from jedi_repro.tracking.server import init_schema

    store = tmp / 'small'
    make_toy_store(store, n_datasets=2, n_classes=3, dim=8, n_train=20, n_val=10, n_test=10)
    stub_dir = str(REPO / 'tests' / 'test_studies')
    env = dict(env, PYTHONPATH=os.pathsep.join([stub_dir, env.get('PYTHONPATH', '')]))
    sys.path.insert(0, stub_dir)
    local = _study(tmp, dict(env, JEDI_HOME=str(tmp / 'home_local')), 'bench_local', None, store)
    t0 = time.perf_counter()
    with LocalPostgres() as pg:
        t_pg = time.perf_counter() - t0
        optuna_url, mlflow_url = pg.create_database('optuna'), pg.create_database('mlflow')
        t0 = time.perf_counter()
        from jedi_repro.studies.storage import open_storage
        open_storage(optuna_url, create_schema=True)
        t_optuna = time.perf_counter() - t0
        t0 = time.perf_counter()
        init_schema(mlflow_url, tmp / 'art')
        t_mlflow = time.perf_counter() - t0
        port = _port()
        t0 = time.perf_counter()
        server = subprocess.Popen([sys.executable, '-m', 'jedi_repro.cli', 'server', '--backend-store-uri',
                                   mlflow_url, '--artifacts-destination', str(tmp / 'art'), '--port',
                                   str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=2).read()
                    break
                except OSError:
                    if server.poll() is not None or time.perf_counter() - t0 > 180:
                        raise SystemExit('jedi server did not start') from None
                    time.sleep(0.2)
            t_server = time.perf_counter() - t0
            remote = _study(tmp, dict(env, JEDI_HOME=str(tmp / 'home_pg'),
                                      MLFLOW_TRACKING_URI=f'http://127.0.0.1:{port}'), 'bench_pg', optuna_url,
                            store)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    return [dict(bench='services', postgres_start_s=round(t_pg, 2), optuna_schema_s=round(t_optuna, 2),
                 mlflow_schema_s=round(t_mlflow, 2), jedi_server_ready_s=round(t_server, 2)),
            dict(bench='study', trials=6, seeds=2, workers=2, train='stub (no training)',
                 s_per_trial_journal_sqlite=round(local, 2), s_per_trial_postgres_server=round(remote, 2),
                 ratio_postgres_over_journal=round(remote / local, 3))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--train-samples', type=int, default=2000, help='toy store: training samples per dataset')
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--skip', nargs='*', default=[], choices=['train', 'extract', 'services'])
    args = p.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '1'))
    env.pop('MLFLOW_TRACKING_URI', None)
    print(json.dumps(dict(bench='machine', cpus=os.cpu_count(), load_avg=os.getloadavg())), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if 'train' not in args.skip:
            print(json.dumps(bench_train(tmp, env, args.train_samples, args.epochs)), flush=True)
        if 'extract' not in args.skip:
            print(json.dumps(bench_extract(tmp, env)), flush=True)
        if 'services' not in args.skip:
            for line in bench_services_and_study(tmp, env):
                print(json.dumps(line), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
