"""The measurements behind two protocol defaults: the KD reduction / pool mix, and the schedule.

For every feature store given, trains ``mm_configs/jedi/jedi_default.py`` (with its default schedule:
ValPlateauHook, patience 10, max_epochs cap) in four variants and several seeds:

* ``pool_mean``: one KD mean over a proportional pool batch (the harness before the choice was made);
* ``dataset_sum``: a KD mean per dataset, summed over datasets, proportional pool;
* ``dataset_sum+balanced``: the same with an equal share of every dataset in the pool batch;
* ``gamma=0``: no KD term (the baseline any KD variant must beat).

and prints, per store and variant, the mean over seeds of the students' and teachers' mean top-1 on
VALIDATION (what the default is chosen on) and on test (reported), the experts' test top-1, the best
epochs, the last epoch and whether every run reached its plateau. Nothing is cached: the numbers are
recomputed by every run.

    python benchmarks/protocol_choices.py STORE [STORE ...] [--seeds 0 1] [--out results.json]

The YouTube-8M stores come from ``jedi bench yt8m --skip-studies`` (``$JEDI_HOME/features/yt8m_*``), the
demo store from ``jedi demo`` (``$JEDI_HOME/features/demo``).
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / 'mm_configs' / 'jedi' / 'jedi_default.py'
VARIANTS = {
    'pool_mean': {'model.kd_reduction': 'pool_mean', 'data.pool_mix': 'proportional'},
    'dataset_sum': {'model.kd_reduction': 'dataset_sum', 'data.pool_mix': 'proportional'},
    'dataset_sum+balanced': {'model.kd_reduction': 'dataset_sum', 'data.pool_mix': 'balanced'},
    'gamma=0': {'model.gamma': 0.0},
}


def run(stores, seeds, variants, extra) -> list[dict]:
    from jedi_repro.engine.train import train

    rows = []
    for store in stores:
        for name in variants:
            for seed in seeds:
                with tempfile.TemporaryDirectory() as wd:
                    t = time.perf_counter()
                    m = train(str(CONFIG), features=store, work_dir=wd, seed=seed,
                              cfg_options={**VARIANTS[name], 'log_level': 'WARNING', **extra})
                    rows.append(dict(
                        store=Path(store).name, variant=name, seed=seed, wall_s=time.perf_counter() - t,
                        expert=m['mean']['expert']['top1'],
                        **{f'{split}_{role}': (m['val'] if split == 'val' else m)['mean'][role]['top1']
                           for split in ('val', 'test') for role in ('student', 'teacher')},
                        best_student=m['selection']['student']['epoch'],
                        best_teacher=m['selection']['teacher']['epoch'],
                        last_epoch=m['convergence']['last_epoch'], converged=m['convergence']['converged']))
                    r = rows[-1]
                    print(f'{r["store"]:14s} {name:22s} seed {seed}: val S {r["val_student"]:.4f} '
                          f'T {r["val_teacher"]:.4f} | test E {r["expert"]:.4f} S {r["test_student"]:.4f} '
                          f'T {r["test_teacher"]:.4f} | best S@{r["best_student"]} T@{r["best_teacher"]} '
                          f'last {r["last_epoch"]} {r["wall_s"]:.0f} s', flush=True)
    return rows


def summarize(rows: list[dict]) -> str:
    def ms(vals):
        vals = [100 * v for v in vals]
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        return f'{statistics.mean(vals):.1f} ± {sd:.1f}'

    out = ['| store | variant | val student | val teacher | test expert | test student | test teacher | '
           'best epoch S / T | last epoch | converged | s/run |', '|' + '---|' * 11]
    keys = list(dict.fromkeys((r['store'], r['variant']) for r in rows))
    for store, variant in keys:
        g = [r for r in rows if r['store'] == store and r['variant'] == variant]

        def col(k, g=g):
            return [r[k] for r in g]
        cells = [store, variant, ms(col('val_student')), ms(col('val_teacher')),
                 f'{100 * g[0]["expert"]:.1f}', ms(col('test_student')), ms(col('test_teacher')),
                 f'{statistics.mean(col("best_student")):.0f} / {statistics.mean(col("best_teacher")):.0f}',
                 f'{statistics.mean(col("last_epoch")):.0f}', f'{sum(col("converged"))}/{len(g)}',
                 f'{statistics.mean(col("wall_s")):.0f}']
        out.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('stores', nargs='+', help='feature store directories')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument('--cfg-options', nargs='*', default=[], metavar='KEY=VALUE',
                   help='extra overrides for every run (e.g. train_cfg.max_epochs=300)')
    p.add_argument('--out', help='also write the per-run rows as JSON here')
    args = p.parse_args()
    from jedi_repro.cli.train import parse_cfg_options
    rows = run(args.stores, args.seeds, args.variants, parse_cfg_options(args.cfg_options))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
    print()
    print(summarize(rows))


if __name__ == '__main__':
    main()
