"""torch intra-op threads on an idle and on a loaded machine, side by side in one run, and what
``threads='auto'`` (jedi_repro/engine/threads.py) picks in each case.

Work: training steps (forward, backward, AdamW) of the JEDI model's linear layers written with torch
only: residual adjustment MLPs per expert, linear students, concat + dropout + linear teachers, a batch of
4 x 32 labelled + 128 pool rows. Two sizes: ``small`` (4 experts of 256-d, 50 classes each, hidden 256:
the issue's small store) and ``paper`` (2048/4096/2048/2048-d, 400/101/51/200 classes, hidden 512).
Conditions, one after the other in this process: ``idle`` (no load added by the benchmark; other jobs on
a shared machine are still there: the load is printed) and ``loaded`` (``--load-procs`` busy-loop
processes started by the benchmark, stopped after the phase, never outliving ``--max-load-s``). In each,
every thread count of ``--threads`` (default: 1 and every usable core) runs ``--steps`` steps after one
warm-up step, alternating the order; the median step time is reported, with the choice of ``auto`` for
this work on the machine as it is then (``resolve_threads`` with ``OMP_NUM_THREADS`` and
``JEDI_NUM_THREADS`` unset).

Usage:
    python benchmarks/bench_threads.py [--steps 8] [--load-procs 4] [--sizes small paper] [--quick]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time

SIZES = {'small': dict(dims=[256] * 4, classes=[50] * 4, hidden=256),
         'paper': dict(dims=[2048, 4096, 2048, 2048], classes=[400, 101, 51, 200], hidden=512),
         'tiny': dict(dims=[32] * 4, classes=[5] * 4, hidden=16)}
B_LAB, B_POOL = 32, 128


def _busy(deadline: float) -> None:
    x = 0
    while time.time() < deadline:
        x += 1


class Step:
    def __init__(self, dims, classes, hidden):
        import torch
        from torch import nn
        torch.manual_seed(0)
        self.adjust = nn.ModuleList(nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, d))
                                    for d in dims)
        self.students = nn.ModuleList(nn.Linear(d, c) for d, c in zip(dims, classes))
        self.teachers = nn.ModuleList(nn.Sequential(nn.Dropout(0.5), nn.Linear(sum(dims), c))
                                      for c in classes)
        mods = nn.ModuleList([self.adjust, self.students, self.teachers])
        self.opt = torch.optim.AdamW(mods.parameters(), lr=1e-3)
        rows = B_LAB * len(dims) + B_POOL
        self.x = [torch.randn(rows, d) for d in dims]
        self.y = [torch.randint(0, c, (B_LAB,)) for c in classes]
        self.flop = 6.0 * rows * sum(m.weight.numel() for m in mods.modules() if isinstance(m, nn.Linear))

    def __call__(self):
        import torch.nn.functional as F
        a = [x + f(x) for x, f in zip(self.x, self.adjust)]
        fused = __import__('torch').cat(a, 1)
        loss = 0.0
        for i, (s, t) in enumerate(zip(self.students, self.teachers)):
            sl = slice(i * B_LAB, (i + 1) * B_LAB)
            loss = loss + F.cross_entropy(s(a[i])[sl], self.y[i]) + F.cross_entropy(t(fused)[sl], self.y[i])
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()


def time_steps(step: Step, threads: int, n: int) -> float:
    import torch
    torch.set_num_threads(threads)
    step()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--steps', type=int, default=8)
    p.add_argument('--sizes', nargs='+', default=['small', 'paper'], choices=sorted(SIZES))
    p.add_argument('--threads', nargs='+', type=int, default=None)
    p.add_argument('--load-procs', type=int, default=None,
                   help='busy loops of the loaded phase (default 2 x cores)')
    p.add_argument('--max-load-s', type=float, default=600,
                   help='the busy loops end after this at the latest')
    p.add_argument('--quick', action='store_true',
                   help='tiny work, 2 steps (a smoke test; timings mean nothing)')
    args = p.parse_args()
    for k in ('OMP_NUM_THREADS', 'JEDI_NUM_THREADS'):
        os.environ.pop(k, None)  # threads are set per measurement; auto must see no explicit setting
    from jedi_repro.engine.precision import cpu_flags
    from jedi_repro.engine.threads import resolve_threads, usable_cpus
    cpus = usable_cpus()
    counts = args.threads or sorted({1, cpus})
    sizes = ['tiny'] if args.quick else args.sizes
    steps = 2 if args.quick else args.steps
    n_load = args.load_procs if args.load_procs is not None else 2 * cpus
    model, _ = cpu_flags()
    print(f'machine: {model or "?"}, {os.cpu_count()} cpus, {cpus} usable by this process; thread counts '
          f'{counts}; {steps} steps per measurement (median); loaded phase: {n_load} busy loops', flush=True)
    work = {name: Step(**SIZES[name]) for name in sizes}
    rows = []
    for cond in ('idle', 'loaded'):
        procs = []
        if cond == 'loaded' and n_load:
            deadline = time.time() + args.max_load_s
            procs = [mp.get_context('spawn').Process(target=_busy, args=(deadline,), daemon=True)
                     for _ in range(n_load)]
            for pr in procs:
                pr.start()
            time.sleep(2)
        try:
            for name, step in work.items():
                choice = resolve_threads('auto', step.flop)
                res = {}
                for t in (counts if len(rows) % 2 == 0 else counts[::-1]):
                    res[t] = time_steps(step, t, steps)
                load = os.getloadavg()[0]
                best = min(res, key=res.get)
                row = dict(condition=cond, work=name, gflop_per_step=round(step.flop / 1e9, 2),
                           load_1min=round(load, 2),
                           step_s={str(t): round(v, 4) for t, v in sorted(res.items())},
                           fastest=best, auto=choice.threads, auto_reason=choice.reason,
                           auto_vs_fastest=round(res.get(choice.threads, float('nan')) / res[best], 3))
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            for pr in procs:
                pr.terminate()
            for pr in procs:
                pr.join()
    print('\n| condition | work | GFLOP/step | load (1 min) | '
          + ' | '.join(f'{t} thr s/step' for t in counts) + ' | fastest | auto picks | auto / fastest |')
    print('|---|---|---|---|' + '---|' * len(counts) + '---|---|---|')
    for r in rows:
        print(f'| {r["condition"]} | {r["work"]} | {r["gflop_per_step"]} | {r["load_1min"]} | '
              + ' | '.join(f'{r["step_s"][str(t)]:.3f}' for t in counts)
              + f' | {r["fastest"]} | {r["auto"]} | {r["auto_vs_fastest"]:.2f} |')


if __name__ == '__main__':
    main()
