"""``threads = 'auto' | N``: torch's intra-op thread count, chosen from the cores this process may use.

Why: on a shared node, an OpenMP team of as many threads as the machine has cores waits at every
parallel region for its slowest thread, and a thread whose core is taken by another job is slow; measured
on 2 shared cores (load average 5 to 6), 3 epochs took 134 s with 2 threads against 47 s with one. And
the work of a JEDI step is often too small to split: below a few hundred MFLOP per step, the team's
start-up and barriers cost more than the second core gives.

How (:func:`choose_threads`, pure; :func:`resolve_threads` reads the machine):

1. an explicit count wins: ``JEDI_NUM_THREADS=N`` (environment), else the config's ``threads=N``;
2. ``'auto'`` (default) respects an explicit ``OMP_NUM_THREADS`` (a study worker's share, a cluster
   job's setting);
3. else ``auto``: the cores this process may run on (``os.sched_getaffinity``, capped by a cgroup CPU
   quota, ``cpu.max`` or ``cpu.cfs_quota_us``), minus the cores other jobs keep busy (the larger of the
   1-minute load average and the tasks runnable right now, :func:`current_load`), at least 1; then at
   most one thread per
   ``MIN_FLOP_PER_THREAD`` of the work of one training step (forward + backward of every linear layer).

The count is applied with ``torch.set_num_threads`` by ``jedi train`` and by every study worker's runs,
and recorded in ``metrics.json`` (``runtime.threads`` and the reason) and as MLflow tag ``jedi.threads``.
It is deliberately not part of the run's resolved configuration: it changes speed, not what is computed.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

from jedi_repro.errors import JediError

ENV = 'JEDI_NUM_THREADS'
MIN_FLOP_PER_THREAD = 2e8  # below ~0.2 GFLOP of work per step and thread, a second thread did not pay here


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    reason: str


def check_threads(value, where: str = 'config key threads') -> int | str:
    """``'auto'`` or a positive int (``JediError`` naming ``where`` otherwise)."""
    if value == 'auto':
        return value
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise JediError(f"{where}={value!r} is not supported; use 'auto' or a positive integer")
    return value


def cgroup_cpu_limit(root: str | Path = '/sys/fs/cgroup') -> float | None:
    """CPUs the cgroup quota allows (``quota / period``), ``None`` when unlimited or unknown."""
    root = Path(root)
    try:  # cgroup v2: "max 100000" or "200000 100000"
        quota, period = (root / 'cpu.max').read_text().split()[:2]
        return None if quota == 'max' else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        quota = int((root / 'cpu' / 'cpu.cfs_quota_us').read_text())
        period = int((root / 'cpu' / 'cpu.cfs_period_us').read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def usable_cpus() -> int:
    """Cores this process may run on: its CPU affinity, capped by the cgroup quota (at least 1)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    if quota is not None:
        n = min(n, max(1, math.floor(quota)))
    return max(1, n)


def choose_threads(setting, env: dict, cpus: int, load: float, own_threads: int = 0,
                   step_flop: float | None = None) -> ThreadChoice:
    """The intra-op thread count (see the module docstring); pure, for tests and the benchmark.

    Args:
        setting: the config's ``threads`` (``'auto'`` or an int).
        env: the environment (``JEDI_NUM_THREADS``, ``OMP_NUM_THREADS``).
        cpus: :func:`usable_cpus`.
        load: the 1-minute load average.
        own_threads: busy threads of this process already counted in ``load``.
        step_flop: FLOPs of one training step (``None``: unknown, no cap from the work's size).
    """
    if env.get(ENV):
        setting = check_threads(env[ENV], ENV)
        if setting != 'auto':
            return ThreadChoice(setting, ENV)
    else:
        setting = check_threads(setting)
        if setting != 'auto':
            return ThreadChoice(setting, 'config threads')
    if env.get('OMP_NUM_THREADS'):
        try:
            return ThreadChoice(check_threads(env['OMP_NUM_THREADS'], 'OMP_NUM_THREADS'), 'OMP_NUM_THREADS')
        except JediError:
            pass  # a malformed value, which torch ignores too: choose as if unset
    others = max(0.0, load - own_threads)
    free = max(1, min(cpus, round(cpus - others)))
    reason = f'auto: {cpus} usable cores, {load:.1f} busy with other work'
    if step_flop is not None:
        by_work = max(1, int(step_flop // MIN_FLOP_PER_THREAD))
        if by_work < free:
            return ThreadChoice(by_work, f'{reason}, {step_flop / 1e9:.2f} GFLOP per step')
    return ThreadChoice(free, reason)


def step_flop(model, rows: int) -> float:
    """FLOPs of one training step of ``model`` on ``rows`` rows: 3 x 2 x (weights of its Linear layers)
    per row (forward, and the input and weight gradients)."""
    import torch
    weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    return 6.0 * weights * rows


def current_load(samples: int = 5, interval_s: float = 0.02) -> float:
    """Busy cores besides this process: the larger of the 1-minute load average and the runnable tasks
    now (``/proc/loadavg``'s 4th field, sampled ``samples`` times, this process excluded). The average
    lags a minute behind a job that just started; the instant count sees it at once."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    now = []
    for i in range(samples):
        try:
            now.append(int(Path('/proc/loadavg').read_text().split()[3].split('/')[0]) - 1)
        except (OSError, ValueError, IndexError):
            break
        if i + 1 < samples:
            time.sleep(interval_s)
    return max(load, sum(now) / len(now)) if now else load


def resolve_threads(setting='auto', step_flop: float | None = None) -> ThreadChoice:
    """:func:`choose_threads` on this machine, now."""
    env = dict(os.environ)
    needs_load = not env.get(ENV, '').isdigit() and setting == 'auto' and not env.get('OMP_NUM_THREADS')
    load = current_load() if needs_load else 0.0
    return choose_threads(setting, env, usable_cpus(), load, step_flop=step_flop)


def apply_threads(setting='auto', step_flop: float | None = None) -> ThreadChoice:
    """Resolve and apply (``torch.set_num_threads``) the intra-op thread count."""
    import torch
    choice = resolve_threads(setting, step_flop)
    torch.set_num_threads(choice.threads)
    return choice
