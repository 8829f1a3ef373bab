"""JEDI training through the harness in fp32 vs bf16 (``precision`` config key), at the paper's dimensions,
with the achieved FLOP/s as a fraction of a plain matmul peak measured in the same run.

Setting (issue 15): 4 datasets x 4 experts, 2048-d float16 features, classes 400/101/51/200, adjustment
modules of hidden width 2048 (the default: the expert dim), concat fusion, 256 labelled clips of each
dataset + a balanced pool block of 4 x 256 clips per step (2048 rows through every adjustment module,
student and teacher). ``jedi_repro.engine.train.train()`` runs one epoch per precision; a hook times the
training iterations after the first (warm-up). Repeats alternate the order of fp32 and bf16, and the
matmul peaks (a square matmul of the same width, fp32 and bf16) are measured next to them, so every figure
shares the machine's load; the best of the repeats is reported (on a shared machine the least disturbed
one). On CPU every rate is also given per second of this process's CPU time (``*_cpu``): with one torch
thread that is what the core delivered while it ran us, much less sensitive to other jobs on a shared
machine than wall time; the ratios are given on both.

Achieved FLOP/s counts the linear layers only: per row, forward 2 x (4 x 2 x 2048 x 2048 adjustment +
2048 x 752 students + 8192 x 752 teachers) multiply-adds, training = 3 x forward (backward computes
input and weight gradients). The fraction of peak is that over the matmul peak of the same dtype.

One JSON line per precision (and one per matmul peak), each naming the CPU model and the flags that
decide bf16 (``amx_bf16`` / ``avx512_bf16``: native; neither: emulated) and what ``precision='auto'``
picks here. ``--quick``: tiny dimensions, one repeat (a smoke
test of the script, as CI runs it; its timings mean nothing).

Usage:
    OMP_NUM_THREADS=1 python benchmarks/bench_precision.py [--repeats 2] [--threads 1] [--store DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAPER = dict(classes=[400, 101, 51, 200], dim=2048, batch=256, iters=6, matmul_n=2048)
QUICK = dict(classes=[7, 5, 4, 6], dim=64, batch=16, iters=3, matmul_n=256)


def machine() -> str:
    """The device, for the figures: on CPU its model, the flags that decide bf16 (native with amx_bf16 or
    avx512_bf16, emulated otherwise), the cores and torch's threads."""
    import torch
    if torch.cuda.is_available():
        return f'{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda}), torch {torch.__version__}'
    from jedi_repro.engine.precision import cpu_flags
    model, flags = cpu_flags()
    model = model or platform.processor() or platform.machine()
    shown = sorted(f for f in flags if f.startswith(('amx', 'avx512_bf16', 'avx512_vnni', 'avx512f', 'avx2')))
    return (f'{model}, flags {" ".join(shown) or "(none of amx/avx512/avx2)"}, {os.cpu_count()} cores, '
            f'torch {torch.__version__} ({torch.get_num_threads()} threads)')


def bf16_verdict() -> dict:
    """What ``precision='auto'`` decides on this device, and why (engine/precision.py)."""
    from jedi_repro.engine.precision import bf16_native
    native, why = bf16_native()
    return dict(bf16_native=native, auto_picks='bf16' if native else 'fp32', why=why)


def device() -> str:
    import torch
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def matmul_peak_gflops(dtype: str, n: int, seconds: float = 1.0) -> tuple[float, float]:
    """Best GFLOP/s of an ``n x n @ n x n`` matmul in ``dtype`` on this run's device (plain torch), per
    second of wall time and per second of process CPU time."""
    import torch
    dev = device()
    a = torch.randn(n, n, device=dev, dtype=getattr(torch, {'fp32': 'float32', 'bf16': 'bfloat16'}[dtype]))
    b = torch.randn_like(a)
    sync = torch.cuda.synchronize if dev == 'cuda' else (lambda: None)
    for _ in range(2):
        a @ b
    sync()
    best = best_cpu = 0.0
    t_end, reps = time.perf_counter() + seconds, 1
    while time.perf_counter() < t_end:
        t, c = time.perf_counter(), time.process_time()
        for _ in range(reps):
            a @ b
        sync()
        dt, dc = time.perf_counter() - t, time.process_time() - c
        best = max(best, 2 * n ** 3 * reps / dt / 1e9)
        best_cpu = max(best_cpu, 2 * n ** 3 * reps / max(dc, 1e-9) / 1e9)
        if dt < 0.05:
            reps *= 2
    return best, best_cpu


def train_flops_per_row(dims: list[int], hidden: list[int], classes: list[int]) -> float:
    """Training FLOPs per row of the JEDI model's linear layers (concat fusion): 3 x forward."""
    fwd = sum(2 * d * h for d, h in zip(dims, hidden)) + dims[0] * sum(classes) + sum(dims) * sum(classes)
    return 3 * 2 * fwd


def make_store(path: Path, cfg: dict) -> None:
    from jedi_repro.data.toy import make_toy_store
    n = len(cfg['classes'])
    make_toy_store(path, n_datasets=n, n_classes=cfg['classes'], dim=cfg['dim'],
                   n_train=cfg['batch'] * cfg['iters'], n_val=cfg['batch'], n_test=None, latent_dim=64,
                   dtype='float16', seed=0, chunk=2048)


def harness_rows_per_s(store: Path, precision: str, cfg: dict) -> dict:
    """One epoch of ``train()``; rows per second over the training iterations after the first."""
    from mmengine.hooks import Hook

    from jedi_repro.engine.train import train

    class IterTimer(Hook):
        priority = 'VERY_LOW'

        def __init__(self):
            self.stamps = []

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if device() == 'cuda':
                import torch
                torch.cuda.synchronize()
            self.stamps.append((time.perf_counter(), time.process_time()))

    timer = IterTimer()
    n = len(cfg['classes'])
    with tempfile.TemporaryDirectory(prefix='jedi_bench_prec_') as work:
        train(str(ROOT / 'mm_configs' / 'jedi' / 'jedi_default.py'), str(store), work,
              cfg_options={'train_cfg.max_epochs': 1, 'precision': precision,
                           'data.labeled_batch_size': cfg['batch'],
                           'data.unlabeled_batch_size': n * cfg['batch'],
                           'default_hooks.logger.interval': 1000},
              extra_hooks=[timer], seed=0)
    steps = [b[0] - a[0] for a, b in zip(timer.stamps, timer.stamps[1:])]
    cpu = [b[1] - a[1] for a, b in zip(timer.stamps, timer.stamps[1:])]
    rows = 2 * n * cfg['batch']  # n labelled blocks + a pool block of n x batch
    return dict(rows_per_step=rows, steps_timed=len(steps), step_s_median=statistics.median(steps),
                rows_per_s=rows / statistics.median(steps), rows_per_cpu_s=rows / statistics.median(cpu))


def run(cfg: dict, store: Path, repeats: int) -> list[dict]:
    n = len(cfg['classes'])
    flops_row = train_flops_per_row([cfg['dim']] * n, [cfg['dim']] * n, cfg['classes'])
    peaks = {'fp32': [], 'bf16': []}
    runs = {'fp32': [], 'bf16': []}
    for r in range(repeats):
        for precision in (('fp32', 'bf16') if r % 2 == 0 else ('bf16', 'fp32')):
            peaks[precision].append(matmul_peak_gflops(precision, cfg['matmul_n']))
            runs[precision].append(harness_rows_per_s(store, precision, cfg))
            peaks[precision].append(matmul_peak_gflops(precision, cfg['matmul_n']))
    inputs = dict(datasets=n, experts=n, dim=cfg['dim'], classes=cfg['classes'], adjustment_hidden=cfg['dim'],
                  labeled_per_dataset=cfg['batch'], pool=n * cfg['batch'], repeats=repeats,
                  train_gflop_per_row=round(flops_row / 1e9, 4))
    common = dict(device=device(), machine=machine(), inputs=inputs, precision_auto=bf16_verdict())
    out = []
    peak = {p: max(x[0] for x in v) for p, v in peaks.items()}
    peak_cpu = {p: max(x[1] for x in v) for p, v in peaks.items()}
    for precision in ('fp32', 'bf16'):
        out.append(dict(bench='matmul_peak', dtype=precision, n=cfg['matmul_n'],
                        gflops=round(peak[precision], 1),
                        gflops_all=[round(x[0], 1) for x in peaks[precision]],
                        gflops_cpu=round(peak_cpu[precision], 1), **common))
    best = {p: max(x['rows_per_s'] for x in runs[p]) for p in runs}
    best_cpu = {p: max(x['rows_per_cpu_s'] for x in runs[p]) for p in runs}
    for precision in ('fp32', 'bf16'):
        gflops, gflops_cpu = best[precision] * flops_row / 1e9, best_cpu[precision] * flops_row / 1e9
        out.append(dict(bench='train_precision', precision=precision, samples_per_s=round(best[precision], 1),
                        samples_per_s_all=[round(x['rows_per_s'], 1) for x in runs[precision]],
                        ratio_vs_fp32=round(best[precision] / best['fp32'], 3),
                        achieved_gflops=round(gflops, 1),
                        fraction_of_matmul_peak=round(gflops / peak[precision], 3),
                        fraction_of_fp32_peak=round(gflops / peak['fp32'], 3),
                        samples_per_cpu_s=round(best_cpu[precision], 1),
                        ratio_vs_fp32_cpu=round(best_cpu[precision] / best_cpu['fp32'], 3),
                        fraction_of_matmul_peak_cpu=round(gflops_cpu / peak_cpu[precision], 3),
                        steps_timed=runs[precision][0]['steps_timed'], **common))
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--repeats', type=int, default=2)
    p.add_argument('--threads', type=int, default=None, help='torch threads (default: as torch chooses)')
    p.add_argument('--store', type=Path, default=None,
                   help='benchmark store (built if missing; default: a temporary directory)')
    p.add_argument('--quick', action='store_true', help='tiny dimensions, one repeat (smoke test)')
    args = p.parse_args(argv)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ['JEDI_NUM_THREADS'] = str(args.threads)  # train() would otherwise choose its own count
    cfg = QUICK if args.quick else PAPER
    repeats = 1 if args.quick else args.repeats
    with tempfile.TemporaryDirectory(prefix='jedi_bench_store_') as tmp:
        store = args.store or Path(tmp) / 'store'
        if not (store / 'manifest.json').is_file():
            make_store(store, cfg)
        for line in run(cfg, store, repeats):
            print(json.dumps(line), flush=True)


if __name__ == '__main__':
    main()
