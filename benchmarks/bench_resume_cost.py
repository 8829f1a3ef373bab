"""What keeping a resumable checkpoint costs: ``ExactResumeHook`` writes ``WORK_DIR/last.pth`` after every
validation (weights, optimizer state, message hub).

One ``train()`` per store with the default config; a wrapper times every ``last.pth`` write and the
epoch it belongs to (``before_train_epoch`` -> end of ``after_val_epoch``), measured in the same run.
Prints one JSON line per store: seconds per write, per epoch, their ratio, and the file size.

Usage:
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_resume_cost.py STORE [STORE ...] [--epochs 5]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def measure(store: str, epochs: int) -> dict:
    from mmengine.hooks import Hook

    from jedi_repro.engine.hooks.resume_hook import LAST_CHECKPOINT, ExactResumeHook
    from jedi_repro.engine.train import train

    writes, epoch_s = [], []
    original = ExactResumeHook.after_val_epoch

    def timed(self, runner, metrics=None):
        t0 = time.perf_counter()
        original(self, runner, metrics)
        writes.append(time.perf_counter() - t0)
        epoch_s.append(time.perf_counter() - clock.start)

    class Clock(Hook):
        priority = 'HIGHEST'
        start = 0.0

        def before_train_epoch(self, runner):
            Clock.start = time.perf_counter()

    clock = Clock()
    ExactResumeHook.after_val_epoch = timed
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ.setdefault('JEDI_HOME', tmp)
            train(REPO / 'mm_configs/jedi/jedi_default.py', features=store, work_dir=Path(tmp) / 'wd',
                  cfg_options={'train_cfg.max_epochs': epochs, 'default_hooks.plateau.patience': epochs + 1},
                  extra_hooks=[clock])
            size = (Path(tmp) / 'wd' / LAST_CHECKPOINT).stat().st_size
    finally:
        ExactResumeHook.after_val_epoch = original
    write, epoch = sorted(writes)[len(writes) // 2], sorted(epoch_s)[len(epoch_s) // 2]
    return dict(bench='resume_cost', store=str(store), epochs=epochs, write_s_median=round(write, 4),
                epoch_s_median=round(epoch, 4), ratio=round(write / epoch, 4),
                last_pth_mb=round(size / 2**20, 2),
                machine=f'{platform.processor() or platform.machine()}, {os.cpu_count()} cpus',
                threads=int(os.environ.get('OMP_NUM_THREADS', '0') or 0))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('stores', nargs='+')
    p.add_argument('--epochs', type=int, default=5)
    args = p.parse_args()
    for store in args.stores:
        print(json.dumps(measure(store, args.epochs)), flush=True)


if __name__ == '__main__':
    main()
