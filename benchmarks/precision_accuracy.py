"""Test metrics of bf16 vs fp32 training on the same stores and seeds (issue 15: within 0.3 points).

Runs ``train()`` (``mm_configs/yt8m/jedi_yt8m.py`` by default: the paper settings, to a validation plateau)
once per (store, seed, precision), the two precisions of a seed one after the other, and prints one JSON
line per run and a summary line per store: mean test top-1 of students and teachers per precision, the
paired difference bf16 - fp32 (points, mean and max |.| over seeds) and the wall-time ratio.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/precision_accuracy.py STORE [STORE ...] [--seeds 0 1 2]
        [--config mm_configs/yt8m/jedi_yt8m.py] [--work-root DIR]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(store: str, seed: int, precision: str, config: str, work_root: Path) -> dict:
    from jedi_repro.engine.train import train
    m = train(config, features=store, work_dir=work_root / f'{Path(store).name}_{precision}_s{seed}',
              cfg_options={'precision': precision}, seed=seed)
    roles = ('student', 'teacher')
    return dict(store=str(store), seed=seed, precision=precision, wall_s=round(m['wall_s'], 1),
                epochs=m['convergence']['last_epoch'], converged=m['convergence']['converged'],
                **{f'test_{r}_top1': round(100 * m['mean'][r]['top1'], 2) for r in roles},
                **{f'val_{r}_top1': round(100 * m['val']['mean'][r]['top1'], 2) for r in roles})


def summarize(rows: list[dict]) -> dict:
    by = {(r['seed'], r['precision']): r for r in rows}
    seeds = sorted({r['seed'] for r in rows})
    out = {'store': rows[0]['store'], 'seeds': seeds}
    for role in ('student', 'teacher'):
        key = f'test_{role}_top1'
        diffs = [by[s, 'bf16'][key] - by[s, 'fp32'][key] for s in seeds]
        out[f'{role}_fp32'] = round(statistics.mean(by[s, 'fp32'][key] for s in seeds), 2)
        out[f'{role}_bf16'] = round(statistics.mean(by[s, 'bf16'][key] for s in seeds), 2)
        out[f'{role}_diff_mean'] = round(statistics.mean(diffs), 2)
        out[f'{role}_diff_max_abs'] = round(max(abs(d) for d in diffs), 2)
    out['wall_ratio_fp32_over_bf16'] = round(sum(by[s, 'fp32']['wall_s'] for s in seeds)
                                             / sum(by[s, 'bf16']['wall_s'] for s in seeds), 3)
    out['machine'] = f'{platform.machine()} {platform.processor() or ""}'.strip()
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('stores', nargs='+')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    p.add_argument('--config', default=str(ROOT / 'mm_configs' / 'yt8m' / 'jedi_yt8m.py'))
    p.add_argument('--work-root', default=None, help='work dirs (default: a temporary directory)')
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix='jedi_prec_') as tmp:
        work_root = Path(args.work_root or tmp)
        for store in args.stores:
            rows = []
            for seed in args.seeds:
                for precision in ('fp32', 'bf16'):
                    rows.append(run(store, seed, precision, args.config, work_root))
                    print(json.dumps(rows[-1]), flush=True)
            print(json.dumps({'summary': summarize(rows)}), flush=True)


if __name__ == '__main__':
    main()
