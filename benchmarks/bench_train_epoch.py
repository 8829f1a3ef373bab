"""One training epoch of the `jedi train` machinery vs a minimal hand-written PyTorch loop, same math.

Setting (issue 3): 4 datasets x 4 experts, 2048-d float16 features, 50,000 training samples in total
(12,500 per dataset), 50 classes per dataset, jedi_default.py (concat fusion, KD ce, all labelled, pool =
all datasets), 32 labelled samples per dataset + 128 pool samples per iteration.

* harness: ``jedi_repro.engine.train.train()`` with ``max_epochs=1``; a hook times
  ``before_train_epoch -> after_train_epoch`` (data gathering from the memory maps, mmengine's loop,
  ``train_step``, optimizer, hooks, logging). Validation, test and the checkpoint are outside that
  window and reported separately as the whole ``train()`` wall time.
* reference: a plain loop with torch only (``benchmarks/bare_loop.py``, shared with
  ``bench_paper_scale.py``): the same index plan sizes, the same memmap gathers, the same modules
  (residual MLP adjustments, linear students, concat, dropout + linear teachers), the same loss
  (CE + CE + tau^2 KD-CE) and AdamW.

Default ``--mode interleaved``: one process; after every harness iteration a hook runs one reference
iteration, timed on its own and subtracted from the harness's epoch window, so both loops see the same
machine load (the machine this was written on is shared). ``--mode sequential`` runs whole epochs one
after the other, alternating the order (``--isolate``: one subprocess per phase, for per-phase peak RSS).
Over ``--repeats``, the minimum epoch time of each is compared, as wall time and as process CPU time.
Peak RSS is
``ru_maxrss``; "peak anon" is the largest anonymous (not file-backed) RSS sampled during the epoch: the
memory-mapped store pages count in RSS but are file-backed, whereas a float32 copy of the store (1.6 GB
here) would be anonymous.

Usage:
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_train_epoch.py [--store DIR] [--repeats 2]
        [--threads 1] [--hidden-dim 512]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bare_loop import B_LAB, B_POOL, GAMMA, LR, TAU, BareLoop  # noqa: E402 - the sibling module

N_DATASETS, DIM, N_TRAIN_TOTAL, N_CLASSES = 4, 2048, 50_000, 50


def anon_rss_mb() -> float:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('RssAnon:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_store(path: Path, train_total: int = N_TRAIN_TOTAL) -> None:
    from jedi_repro.data.toy import make_toy_store
    make_toy_store(path, n_datasets=N_DATASETS, n_classes=N_CLASSES, dim=DIM,
                   n_train=train_total // N_DATASETS, n_val=500, n_test=None, latent_dim=64,
                   dtype='float16', seed=0, chunk=2048)


def phase_harness(store: str, hidden: int, work: str, interleave: BareLoop | None = None) -> dict:
    """One epoch of ``train()``; with ``interleave``, one reference iteration after every harness
    iteration, timed separately and subtracted from the harness window (both see the same load)."""
    from mmengine.hooks import Hook

    from jedi_repro.engine.train import train

    class EpochTimer(Hook):
        priority = 'VERY_LOW'

        def before_train_epoch(self, runner):
            self.ref_s = self.ref_cpu = 0.0
            self.t0, self.c0, self.anon = time.perf_counter(), time.process_time(), anon_rss_mb()

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if batch_idx % 20 == 0:
                self.anon = max(self.anon, anon_rss_mb())
            if interleave is not None and batch_idx < interleave.iters:
                t, c = time.perf_counter(), time.process_time()
                interleave.step(batch_idx)
                self.ref_s += time.perf_counter() - t
                self.ref_cpu += time.process_time() - c

        def after_train_epoch(self, runner):
            self.epoch_s = time.perf_counter() - self.t0 - self.ref_s
            self.cpu_s = time.process_time() - self.c0 - self.ref_cpu
            self.iters = len(runner.train_dataloader)

    timer = EpochTimer()
    t0 = time.perf_counter()
    train(str(Path(__file__).resolve().parents[1] / 'mm_configs' / 'jedi' / 'jedi_default.py'), store, work,
          cfg_options={'train_cfg.max_epochs': 1, 'model.adjustment.hidden_dim': hidden,
                       'data.labeled_batch_size': B_LAB, 'data.unlabeled_batch_size': B_POOL,
                       'optim_wrapper.optimizer.lr': LR, 'model.kd_loss.temperature': TAU,
                       'model.gamma': GAMMA, 'default_hooks.logger.interval': 50,
                       # the reference loop's math: one KD mean over a proportional pool batch
                       'model.kd_reduction': 'pool_mean', 'data.pool_mix': 'proportional'},
          extra_hooks=[timer], seed=0)
    out = dict(epoch_s=timer.epoch_s, cpu_s=timer.cpu_s, iters=timer.iters,
               train_call_s=time.perf_counter() - t0 - timer.ref_s, peak_rss_mb=peak_rss_mb(),
               peak_anon_mb=timer.anon)
    if interleave is not None:
        out['reference'] = dict(epoch_s=timer.ref_s, cpu_s=timer.ref_cpu, iters=interleave.iters,
                                peak_rss_mb=peak_rss_mb(), peak_anon_mb=timer.anon)
    return out


def phase_reference(store_dir: str, hidden: int) -> dict:
    ref = BareLoop(store_dir, hidden)
    anon = anon_rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    for it in range(ref.iters):
        ref.step(it)
        if it % 20 == 0:
            anon = max(anon, anon_rss_mb())
    return dict(epoch_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0, iters=ref.iters,
                peak_rss_mb=peak_rss_mb(), peak_anon_mb=anon)


def run_phase(phase: str, args) -> dict:
    """One phase, in this process (default) or, with ``--isolate``, in a fresh subprocess."""
    if not args.isolate:
        if phase == 'harness':
            with tempfile.TemporaryDirectory() as work:
                return phase_harness(str(args.store), args.hidden_dim, work)
        return phase_reference(str(args.store), args.hidden_dim)
    cmd = [sys.executable, __file__, '--phase', phase, '--store', str(args.store), '--threads',
           str(args.threads), '--hidden-dim', str(args.hidden_dim)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f'{phase} phase failed:\n{out.stderr[-3000:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--store', type=Path, default=Path(tempfile.gettempdir()) / 'jedi_bench_store')
    p.add_argument('--repeats', type=int, default=2)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--hidden-dim', type=int, default=512,
                   help='adjustment MLP width (model.adjustment.hidden_dim)')
    p.add_argument('--mode', choices=['interleaved', 'sequential'], default='interleaved',
                   help='interleaved: one reference iteration after each harness iteration, same process; '
                        'sequential: whole epochs one after the other')
    p.add_argument('--isolate', action='store_true',
                   help='sequential mode: run each phase in its own subprocess (per-phase peak RSS)')
    p.add_argument('--train-total', type=int, default=N_TRAIN_TOTAL,
                   help='training samples over all datasets when building the store (issue: 50000)')
    p.add_argument('--phase', choices=['harness', 'reference'], help=argparse.SUPPRESS)
    args = p.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    os.environ['JEDI_NUM_THREADS'] = str(args.threads)  # train() applies it (engine/threads.py)
    if args.phase:
        res = run_phase(args.phase, argparse.Namespace(**{**vars(args), 'isolate': False}))
        print(json.dumps(res))
        return
    if not (args.store / 'manifest.json').is_file():
        t = time.perf_counter()
        make_store(args.store, args.train_total)
        print(f'built store {args.store} in {time.perf_counter() - t:.0f} s')
    manifest = json.loads((args.store / 'manifest.json').read_text())
    n_total = sum(d['splits']['train'] for d in manifest['datasets'])
    print(f'{N_DATASETS} datasets x {N_DATASETS} experts, {DIM}-d float16, {n_total} train samples, '
          f'{N_CLASSES} classes each; batch {B_LAB}x{N_DATASETS} labelled + {B_POOL} pool; adjustment hidden '
          f'{args.hidden_dim}; torch threads {args.threads}; '
          f'{args.mode}{", one subprocess per phase" if args.isolate else ", same process"}')
    results = {'harness': [], 'reference': []}
    for r in range(args.repeats):
        if args.mode == 'interleaved':
            with tempfile.TemporaryDirectory() as work:
                res = phase_harness(str(args.store), args.hidden_dim, work,
                                    interleave=BareLoop(str(args.store), args.hidden_dim))
            runs = [('harness', res), ('reference', res.pop('reference'))]
        else:
            order = ('reference', 'harness') if r % 2 == 0 else ('harness', 'reference')
            runs = ((phase, run_phase(phase, args)) for phase in order)
        for phase, res in runs:
            results[phase].append(res)
            extra = f', whole train() {res["train_call_s"]:.1f} s' if phase == 'harness' else ''
            print(f'  run {r} {phase:9s}: epoch {res["epoch_s"]:.2f} s wall, {res["cpu_s"]:.2f} s CPU '
                  f'({res["iters"]} iters), peak RSS so far {res["peak_rss_mb"]:.0f} MB, '
                  f'peak anon during epoch {res["peak_anon_mb"]:.0f} MB{extra}', flush=True)
    for key, what in (('epoch_s', 'wall'), ('cpu_s', 'CPU')):
        h = min(x[key] for x in results['harness'])
        ref = min(x[key] for x in results['reference'])
        print(f'{what:4s}: harness epoch {h:.2f} s | hand-written loop epoch {ref:.2f} s | '
              f'ratio {h / ref:.3f} (overhead {100 * (h / ref - 1):+.1f}%; target <= +10%)')
    print(f'peak RSS {max(x["peak_rss_mb"] for v in results.values() for x in v):.0f} MB; peak anonymous RSS '
          f'harness {max(x["peak_anon_mb"] for x in results["harness"]):.0f} MB, reference '
          f'{max(x["peak_anon_mb"] for x in results["reference"]):.0f} MB (store train split: '
          f'{N_DATASETS * n_total * DIM * 2 / 2**20:.0f} MB float16, memory-mapped, file-backed; '
          f'a float32 copy would add {N_DATASETS * n_total * DIM * 4 / 2**20:.0f} MB anonymous)')


if __name__ == '__main__':
    main()
