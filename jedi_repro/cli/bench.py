"""`jedi bench yt8m`: the real-data benchmark on YouTube-8M video-level features, in one command.

A parser over ``jedi_repro.benchmarks.yt8m.run_benchmark`` (stages, tables and figures live there).
"""
from __future__ import annotations

import sys

from jedi_repro.benchmarks.yt8m import SETTINGS  # a light module: --help stays fast


def register(sub):
    p = sub.add_parser('bench', help='Real-data benchmarks (YouTube-8M features)',
                       description='Real-data benchmarks. `jedi bench yt8m` runs the YouTube-8M protocol, '
                                   '`jedi bench regimes` the regime map.')
    bsub = p.add_subparsers(dest='bench_command', metavar='BENCHMARK', required=True)
    y = bsub.add_parser(
        'yt8m', help='JEDI on YouTube-8M video-level features: cut -> experts -> store -> studies -> report',
        description='Cut disjoint single-label datasets from YouTube-8M verticals, train one video-level '
                    'expert per dataset (mmengine Runner), build one feature store per setting (main: 50% '
                    'labels; scarce: 10%; hetero: RGB-only / audio-only experts of different widths), run '
                    'the studies studies/yt8m_<setting>_{kd,gamma0,student,fusion}.yaml (JEDI paper '
                    'settings under both KD reductions, gamma=0, student-only fine-tuning and fusion '
                    'ablations, 5 seeds) and write the report.')
    y.add_argument('--data', help='directory with yt8m_validate_0000-0099.npz and vocabulary.csv (default '
                                  '$JEDI_YT8M; else ../shared/data/yt8m beside a checkout, or '
                                  '$JEDI_HOME/data/yt8m for an installed package)')
    y.add_argument('--out', default='reports/yt8m', help='report directory (default reports/yt8m)')
    y.add_argument('--settings', default=','.join(SETTINGS),
                   help=f'comma-separated settings to run (default {",".join(SETTINGS)})')
    y.add_argument('--workers', type=int, default=1, help='study worker processes (default 1)')
    y.add_argument('--overwrite', action='store_true', help='rebuild the experts and feature stores')
    y.add_argument('--skip-studies', action='store_true',
                   help='stop after the stores and diagnostics (no JEDI training)')
    y.set_defaults(func=run_yt8m)
    r = bsub.add_parser(
        'regimes', help='When does JEDI help? Regime maps on YouTube-8M (reports/regimes, regimes_overlap)',
        description='A regime map: per cell experts + feature store, then JEDI, gamma=0, student-only '
                    'fine-tuning and model.kd_pool = own / others over 5 seeds; paired deltas with 95% '
                    'intervals, figures, and how well a pilot (JEDI - gamma=0 on validation, 2 seeds) and '
                    'cheap indicators predict the KD gain on held-out seeds. mm_configs/yt8m/regimes.py '
                    '(default): label fraction 0.05 to 0.5 x expert views on 4 disjoint verticals. '
                    'mm_configs/yt8m/regimes_overlap.py: the paper\'s regime, every dataset fully labelled, '
                    'n = 2 / 4 / 8 datasets whose classes overlap by 0 / 33 / 67% (--out '
                    'reports/regimes_overlap). Finished studies and seed runs are reused.')
    r.add_argument('--map', help='map config (default mm_configs/yt8m/regimes.py; the second map: '
                                 'mm_configs/yt8m/regimes_overlap.py)')
    r.add_argument('--out', default='reports/regimes', help='report directory (default reports/regimes)')
    r.add_argument('--workers', type=int, default=2,
                   help='cells trained at once, one process each with OMP_NUM_THREADS=1 (default 2)')
    r.add_argument('--overwrite', action='store_true', help='rebuild the experts and feature stores')
    r.add_argument('--report-only', action='store_true',
                   help='write the report from the runs that exist; train nothing')
    r.set_defaults(func=run_regimes)
    return p


def run_regimes(args) -> int:
    from jedi_repro.benchmarks.regimes import run_map
    run_map(args.out, args.map, workers=args.workers, overwrite=args.overwrite, skip_runs=args.report_only,
            argv=['jedi', 'bench', 'regimes', *sys.argv[3:]])
    return 0


def run_yt8m(args) -> int:
    from jedi_repro.benchmarks.yt8m import run_benchmark

    settings = [s.strip() for s in args.settings.split(',') if s.strip()]
    run_benchmark(args.data, args.out, settings, workers=args.workers, overwrite=args.overwrite,
                  skip_studies=args.skip_studies, argv=['jedi', 'bench', 'yt8m', *sys.argv[3:]])
    return 0
