"""The cost of the paper's scale: start-up, memory, throughput and validation time of `jedi train`, a
2-worker `jedi study run` and `jedi report`, on synthetic stores at the paper's sizes (issue 22).

Stores come from ``jedi features synth --preset paper --scale S --dtype float16 --out DIR`` (the paper's
four datasets, 2048/4096/2048/2048-d experts, 400/101/51/200 classes; scale 1 is 293,602 rows, 5.6 GiB).
For every store given, in this order, each phase in its own subprocess (its own peak RSS):

* ``open``: ``FeatureStore.open`` without and with the value scan (NaN/Inf, label ranges: what
  ``jedi train`` does before a run) and with ``verify_hashes`` (every block's sha256, ``jedi features info
  --verify``): which of them reads every feature, and how long each takes.
* ``train``: ``jedi_repro.engine.train.train()`` (what ``jedi train`` calls) for ``--iters`` iterations
  (``data.iters_per_epoch``, one epoch), ``jedi_default.py`` with ``model.adjustment.hidden_dim``
  ``--hidden-dim``, the pool mix and KD reduction of the bare loop. Start-up = process start to the
  first training iteration (imports, config, store open and scan, Runner). After every harness
  iteration a hook runs one iteration of the bare loop of ``benchmarks/bare_loop.py`` (torch only:
  same modules, same loss, same memmap gathers, same batch of 4 x 32 labelled + 128 pool rows) and
  times it apart, so both see the same machine load; samples/s are over the iterations after the
  first two. The validation pass (every val row of every dataset through every role; the batches,
  without the metrics and the best checkpoints written after them) and the final test passes (val
  again: the synthetic stores have no test split; once per role's checkpoint) are timed by hooks.
  Memory: peak RSS (VmHWM, file-backed pages of the memory maps included) and the largest anonymous RSS
  sampled.
* ``torchrun`` (``--torchrun``): the same training under ``torchrun --nproc_per_node 2`` (gloo, one
  thread each), no bare loop; per-rank peak RSS and the global samples/s, beside the one-process figure.
* ``study``: ``jedi study run SPEC --workers 2`` on a 2-point grid (gamma 0 / 0.4, seed 0, the same
  iterations per epoch, one epoch) in a fresh workspace; then ``report``: ``jedi report --study``.
  Wall time and the peak RSS of the largest process (``RUSAGE_CHILDREN``: workers included).

Usage (the stores must exist; OMP_NUM_THREADS=1 keeps the harness and bare loop on one thread each):
    OMP_NUM_THREADS=1 python benchmarks/bench_paper_scale.py --stores S16 S4 S1 [--iters 12]
        [--hidden-dim 512] [--torchrun] [--no-study] [--work DIR]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bare_loop import B_LAB, B_POOL, GAMMA, LR, TAU, BareLoop  # noqa: E402 - the sibling module

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / 'mm_configs' / 'jedi' / 'jedi_default.py')
WARMUP = 2
JEDI = str(Path(sys.executable).parent / 'jedi')
ROWS = B_LAB * 4 + B_POOL


def proc_status(*keys) -> dict:
    out = {}
    with open('/proc/self/status') as f:
        for line in f:
            k = line.split(':', 1)[0]
            if k in keys:
                out[k] = int(line.split()[1]) / 1024  # MB
    return out


def cpu_info() -> str:
    model, flags = platform.processor() or platform.machine(), []
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name') and model in ('', platform.machine()):
                    model = line.split(':', 1)[1].strip()
                if line.startswith('flags'):
                    flags = line.split(':', 1)[1].split()
                    break
    except OSError:
        pass
    keep = [f for f in flags if f.startswith(('avx512_bf16', 'amx', 'avx512_vnni', 'avx512f', 'avx2'))]
    return f'{model}, {os.cpu_count()} cpus, flags {" ".join(sorted(keep))}'


def cfg_options(iters: int, hidden: int) -> dict:
    return {'train_cfg.max_epochs': 1, 'data.iters_per_epoch': iters, 'model.adjustment.hidden_dim': hidden,
            'data.labeled_batch_size': B_LAB, 'data.unlabeled_batch_size': B_POOL,
            'optim_wrapper.optimizer.lr': LR, 'model.kd_loss.temperature': TAU, 'model.gamma': GAMMA,
            'default_hooks.logger.interval': 50, 'model.kd_reduction': 'pool_mean',
            'data.pool_mix': 'proportional'}


def phase_open(store: str) -> dict:
    from jedi_repro.data.feature_store import FeatureStore
    out = {}
    for name, kw in (('open_s', {'check_values': False}), ('scan_s', {'check_values': True}),
                     ('verify_s', {'check_values': False, 'verify_hashes': True})):
        t = time.perf_counter()
        FeatureStore.open(store, **kw).release()
        out[name] = time.perf_counter() - t
    out['peak_rss_mb'] = proc_status('VmHWM')['VmHWM']
    return out


def phase_train(store: str, iters: int, hidden: int, work: str, t_spawn: float, bare: bool,
                launcher: str | None = None) -> dict:
    from mmengine.hooks import Hook

    from jedi_repro.engine.train import train
    t_bare = time.time()
    loop = BareLoop(store, hidden, iters, drop_pages=True) if bare else None
    bare_build_s = time.time() - t_bare  # the benchmark's own instrument: not part of the start-up

    class Timer(Hook):
        priority = 'VERY_LOW'

        def __init__(self):
            self.harness, self.bare, self.val_s, self.test_s = [], [], [], []
            self.anon = self.file = 0.0

        def _mem(self):
            m = proc_status('RssAnon', 'RssFile')
            self.anon, self.file = max(self.anon, m['RssAnon']), max(self.file, m['RssFile'])

        def before_train_epoch(self, runner):
            self._mem()
            self.t = time.perf_counter()

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if batch_idx == 0:
                self.first_iter_s = time.time() - t_spawn - bare_build_s

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            self.harness.append(time.perf_counter() - self.t)
            if loop is not None:
                t = time.perf_counter()
                loop.step(batch_idx)
                self.bare.append(time.perf_counter() - t)
            self._mem()
            self.t = time.perf_counter()

        def before_val_epoch(self, runner):
            self.v = time.perf_counter()

        def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            self.v_last = time.perf_counter()

        def after_val_epoch(self, runner, metrics=None):
            self.val_s.append(self.v_last - self.v)  # the batches only (not metrics, checkpoints)
            self.val_epoch_s = time.perf_counter() - self.v
            self._mem()

        def before_test_epoch(self, runner):
            self.v = time.perf_counter()

        def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            self.v_last = time.perf_counter()

        def after_test_epoch(self, runner, metrics=None):
            self.test_s.append(self.v_last - self.v)
            self._mem()

    timer = Timer()
    t0 = time.perf_counter()
    m = train(CONFIG, store, work, cfg_options=cfg_options(iters, hidden), extra_hooks=[timer], seed=0,
              launcher=launcher)
    h = timer.harness[WARMUP:]
    rows = ROWS
    out = dict(startup_s=timer.first_iter_s, iters=len(timer.harness), harness_iter_s=sum(h) / len(h),
               harness_sps=rows * len(h) / sum(h), val_s=timer.val_s, val_epoch_s=timer.val_epoch_s,
               test_s=timer.test_s,
               train_call_s=time.perf_counter() - t0, peak_rss_mb=proc_status('VmHWM')['VmHWM'],
               peak_anon_mb=timer.anon, peak_file_mb=timer.file,
               mean_teacher_top1=m['val']['mean']['teacher'].get('top1'),
               mean_expert_top1=m['val']['mean']['expert'].get('top1'))
    if loop is not None:
        b = timer.bare[WARMUP:]
        out.update(bare_iter_s=sum(b) / len(b), bare_sps=rows * len(b) / sum(b))
    return out


def run_sub(args: list[str], env: dict | None = None) -> tuple[dict | None, float, float]:
    """Run a command; returns (its last JSON line or None, wall s, peak RSS MB of its largest process).

    The peak comes from ``wait4``'s rusage: the child's own and its reaped descendants' (study workers).
    """
    with tempfile.TemporaryFile('w+') as out, tempfile.TemporaryFile('w+') as err:
        t = time.perf_counter()
        p = subprocess.Popen(args, stdout=out, stderr=err, env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if p.returncode != 0:
        sys.exit(f'command failed ({p.returncode}): {" ".join(args)}\n{stdout[-2000:]}\n{stderr[-3000:]}')
    res = None
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith('{'):
            res = json.loads(line)
            break
    return res, wall, usage.ru_maxrss / 1024


def store_facts(store: str) -> dict:
    man = json.loads((Path(store) / 'manifest.json').read_text())
    size = sum(f.stat().st_size for f in Path(store).rglob('*.npy'))
    rows = sum(sum(d['splits'].values()) for d in man['datasets'])
    val = sum(d['splits']['val'] for d in man['datasets'])
    return dict(rows=rows, val_rows=val, gib=size / 2**30)


def study_spec(path: Path, store: str, iters: int, hidden: int) -> Path:
    import yaml
    opts = {k: v for k, v in cfg_options(iters, hidden).items() if k != 'model.gamma'}
    spec = dict(name=f'bench_scale_{path.parent.name}', base_config=CONFIG, features=store, seeds=[0],
                cfg_options=opts, space={'model.gamma': {'type': 'grid', 'values': [0.0, 0.4]}},
                sampler={'type': 'grid'},
                objectives=[{'metric': 'mean/teacher/top1', 'direction': 'maximize'}])
    path.write_text(yaml.safe_dump(spec))
    return path


@contextlib.contextmanager
def _shared_dir(parent: str):
    path = Path(parent) / 'run'
    path.mkdir(parents=True, exist_ok=True)
    yield str(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--stores', nargs='+', default=[])
    p.add_argument('--iters', type=int, default=12, help='training iterations per run (data.iters_per_epoch)')
    p.add_argument('--hidden-dim', type=int, default=512)
    p.add_argument('--torchrun', action='store_true', help='also train with 2 processes under torchrun')
    p.add_argument('--torchrun-store', default=None, help='store of the torchrun phase (default: the 2nd)')
    p.add_argument('--no-study', action='store_true')
    p.add_argument('--no-train', action='store_true', help='only the study and report phases')
    p.add_argument('--work', default=None, help='scratch dir for work dirs and study workspaces')
    p.add_argument('--phase', choices=['open', 'train', 'train-dist'], help=argparse.SUPPRESS)
    p.add_argument('--store', help=argparse.SUPPRESS)
    p.add_argument('--t-spawn', type=float, default=0.0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.phase == 'open':
        print(json.dumps(phase_open(args.store)))
        return
    if args.phase in ('train', 'train-dist'):
        dist = args.phase == 'train-dist'
        # every rank must use the same work dir: rank 0 writes the checkpoints the others load
        with tempfile.TemporaryDirectory(dir=args.work) if not dist else _shared_dir(args.work) as work:
            res = phase_train(args.store, args.iters, args.hidden_dim, work, args.t_spawn, bare=not dist,
                              launcher='pytorch' if dist else None)
        if dist:
            Path(args.work, f'rank{os.environ.get("RANK", "0")}.json').write_text(json.dumps(res))
        print(json.dumps(res))
        return
    import torch
    work = Path(args.work or tempfile.mkdtemp(prefix='jedi_bench_scale_'))
    work.mkdir(parents=True, exist_ok=True)
    me = [sys.executable, __file__]
    common = ['--iters', str(args.iters), '--hidden-dim', str(args.hidden_dim), '--work', str(work)]
    print(f'machine: {cpu_info()}; torch {torch.__version__}, '
          f'OMP_NUM_THREADS={os.environ.get("OMP_NUM_THREADS")}'
          f'; load average at start {" ".join(f"{x:.2f}" for x in os.getloadavg())}', flush=True)
    print(f'train: jedi_default.py, adjustment hidden {args.hidden_dim}, batch 4x{B_LAB} labelled + '
          f'{B_POOL} pool '
          f'rows, {args.iters} iterations (first {WARMUP} not timed), one epoch', flush=True)
    rows = []
    for store in args.stores:
        facts = store_facts(store)
        print(f'\n== {store}: {facts["rows"]} rows, {facts["gib"]:.2f} GiB', flush=True)
        row = dict(store=store, **facts)
        if not args.no_train:
            op, _, _ = run_sub([*me, '--phase', 'open', '--store', store])
            print('open ' + json.dumps(op), flush=True)
            tr, wall, _ = run_sub([*me, '--phase', 'train', '--store', store, '--t-spawn', str(time.time()),
                                   *common])
            print('train ' + json.dumps(tr), flush=True)
            row.update(**{f'open_{k}': v for k, v in op.items()}, **tr)
        rows.append(row)
    if args.torchrun and args.stores:
        store = args.torchrun_store or args.stores[min(1, len(args.stores) - 1)]
        dist_work = work / 'dist'
        dist_work.mkdir(exist_ok=True)
        torchrun = str(Path(sys.executable).parent / 'torchrun')
        _, wall, _ = run_sub([torchrun, '--nproc_per_node', '2', '--master_port', '29533', __file__,
                              '--phase', 'train-dist', '--store', store, '--t-spawn', str(time.time()),
                              '--iters', str(args.iters), '--hidden-dim', str(args.hidden_dim),
                              '--work', str(dist_work)], env={'OMP_NUM_THREADS': '1'})
        ranks = [json.loads((dist_work / f'rank{r}.json').read_text()) for r in range(2)]
        one = next((r for r in rows if r['store'] == store and 'harness_sps' in r), None)
        it_s = max(r['harness_iter_s'] for r in ranks)  # every rank steps together (DDP all-reduce)
        rss = ', '.join(f'{r["peak_rss_mb"]:.0f}' for r in ranks)
        anon = ', '.join(f'{r["peak_anon_mb"]:.0f}' for r in ranks)
        print(f'\n== torchrun 2 processes on {store}: per rank peak RSS '
              f'{rss} MB (anon {anon}), start-up {ranks[0]["startup_s"]:.1f} s, '
              f'{it_s:.2f} s per global iteration = {ROWS / it_s:.0f} samples/s' + (
                  f'; one process {one["harness_sps"]:.0f} samples/s, peak RSS {one["peak_rss_mb"]:.0f} MB: '
                  f'ratio {ROWS / it_s / one["harness_sps"]:.2f}x' if one else ''), flush=True)
        print('torchrun ' + json.dumps(ranks), flush=True)
    for row in rows if not args.no_study else []:
        store = row['store']
        ws = work / f'ws_{Path(store).name}'
        ws.mkdir(exist_ok=True)
        spec = study_spec(ws / 'spec.yaml', store, args.iters, args.hidden_dim)
        _, study_s, study_rss = run_sub([JEDI, 'study', 'run', str(spec), '--workers', '2', '--no-progress',
                                         '--no-reuse'], env={'JEDI_HOME': str(ws)})
        _, report_s, report_rss = run_sub([JEDI, 'report', '--study', f'bench_scale_{ws.name}', '--out',
                                           str(ws / 'report')], env={'JEDI_HOME': str(ws)})
        row.update(study_s=study_s, study_peak_rss_mb=study_rss, report_s=report_s,
                   report_peak_rss_mb=report_rss)
        print(f'study {Path(store).name} (2 workers, 2 trials) {study_s:.1f} s, largest process '
              f'{study_rss:.0f} MB; report {report_s:.1f} s, {report_rss:.0f} MB', flush=True)
    print('\n| store | rows | GiB | open (no scan) s | value scan s | sha256 verify s '
          '| start-up to 1st iter s | peak RSS MB (anon / file) | samples/s harness / bare (ratio) '
          '| val pass s (rows) | test pass s | study 2 workers s (largest proc MB) | report s (MB) |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        cells = [Path(r['store']).name, r['rows'], f'{r["gib"]:.2f}']
        if 'startup_s' in r:
            cells += [f'{r["open_open_s"]:.2f}', f'{r["open_scan_s"]:.1f}', f'{r["open_verify_s"]:.1f}',
                      f'{r["startup_s"]:.1f}',
                      f'{r["peak_rss_mb"]:.0f} ({r["peak_anon_mb"]:.0f} / {r["peak_file_mb"]:.0f})',
                      f'{r["harness_sps"]:.0f} / {r["bare_sps"]:.0f} '
                      f'({r["harness_sps"] / r["bare_sps"]:.2f})',
                      f'{r["val_s"][0]:.1f} ({r["val_rows"]})', ', '.join(f'{x:.1f}' for x in r['test_s'])]
        else:
            cells += ['-'] * 8
        if 'study_s' in r:
            cells += [f'{r["study_s"]:.0f} ({r["study_peak_rss_mb"]:.0f})',
                      f'{r["report_s"]:.0f} ({r["report_peak_rss_mb"]:.0f})']
        else:
            cells += ['-', '-']
        print('| ' + ' | '.join(str(c) for c in cells) + ' |')
    print(f'load average at end {" ".join(f"{x:.2f}" for x in os.getloadavg())}')


if __name__ == '__main__':
    main()
