"""`jedi report`: write a Markdown report (tables, statistics, figures) from MLflow runs."""

from __future__ import annotations

import sys

EPILOG = """\
examples:
  jedi report --study gamma --study fusion --out reports/ablations --title "Gamma and fusion"
  jedi report --experiment jedi-train --out reports/train
  jedi report --runs 3f2a... 9c1b... --out reports/picked

Seed runs are grouped into configurations by their trial run (lone runs: by their parameters without the
seed). The main table shows the configuration that matches mm_configs/jedi/jedi_default.py (fusion concat,
gamma > 0), else the best such one. Writes OUT/report.md, OUT/figures/*.png, OUT/tables/*.{csv,tex};
OUT is replaced as a whole (atomically), and is refused if it exists and is not a report. Every run the
report covers gets its sections about that run as the MLflow artifact report/<OUT name>/report.md, and a
line in its description pointing there (--no-attach: leave the runs as they are)."""


def register(sub):
    import argparse

    p = sub.add_parser(
        'report',
        help='Write a Markdown report (tables, statistics, figures) from MLflow runs',
        description='Write a Markdown report with tables (mean ± 95% CI over seeds, paired '
        't-tests against the expert), ablations, figures and provenance from '
        'MLflow runs.',
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        '--study',
        action='append',
        metavar='NAME',
        help='a study (the MLflow experiment of that name); repeat for one report of several',
    )
    src.add_argument(
        '--experiment', metavar='NAME', help='every run of one MLflow experiment, e.g. jedi-train'
    )
    src.add_argument('--runs', nargs='+', metavar='ID', help='MLflow run ids (study, trial or seed runs)')
    p.add_argument('--out', required=True, metavar='DIR', help='report directory, e.g. reports/NAME/')
    p.add_argument('--title', default=None, help='report title (default: "JEDI report: <studies>")')
    p.add_argument(
        '--tracking-uri',
        default=None,
        metavar='URI',
        help='MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the workspace database)',
    )
    p.add_argument(
        '--optuna-storage',
        default=None,
        metavar='URL|FILE',
        help='Optuna storage (RDB URL or journal file; default: $JEDI_HOME/studies/<study>.journal)',
    )
    p.add_argument(
        '--default-config',
        default=None,
        metavar='FILE',
        help="config whose settings define the main table's configuration "
        '(default: mm_configs/jedi/jedi_default.py)',
    )
    p.add_argument(
        '--no-attach',
        action='store_true',
        help="do not log the report's sections about each run into that run (artifact report/<OUT name>/"
        'report.md and a line in its description); needed on a read-only tracking store',
    )
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from jedi_repro.reporting import write_report

    names = args.study or ([args.experiment] if args.experiment else [])
    title = args.title or ('JEDI report: ' + ', '.join(names) if names else 'JEDI report')
    argv = ['jedi', 'report', *sys.argv[2:]] if len(sys.argv) > 2 and sys.argv[1] == 'report' else None
    out = write_report(
        args.out,
        studies=args.study,
        experiment=args.experiment,
        run_ids=args.runs,
        title=title,
        tracking_uri=args.tracking_uri,
        optuna_storage=args.optuna_storage,
        argv=argv,
        default_config=args.default_config,
        attach=not args.no_attach,
    )
    print(f'report: {out / "report.md"}')
    return 0
