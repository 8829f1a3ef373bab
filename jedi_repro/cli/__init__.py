"""The ``jedi`` command line: one subcommand per pipeline stage.

Each subcommand lives in its own module here with ``register(subparsers)`` (adds the parser and sets
``func``); heavy imports happen inside ``func`` so that ``jedi --help`` stays fast. A ``JediError`` (bad
input, failed stage) becomes ``error: <message>`` and exit status 1, without a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import textwrap

# Order = the pipeline order shown by ``jedi --help``.
COMMANDS = ('synth', 'experts', 'extract', 'features', 'train', 'study', 'report', 'ui', 'server', 'demo',
            'bench')

DESCRIPTION = """\
JEDI experiment harness (arXiv 2308.04934): frozen MMAction2 experts, jointly trained students and
teachers with knowledge distillation, Optuna studies, MLflow tracking and Markdown reports.

pipeline: synth -> experts train -> extract -> train -> study -> report   (jedi demo runs them all)
workspace: $JEDI_HOME, default ./jedi_work (features, work dirs, MLflow database, study journals)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='jedi', description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    from jedi_repro import __version__
    parser.add_argument('--version', action='version', version=f'jedi_repro {__version__}')
    sub = parser.add_subparsers(dest='command', metavar='STAGE', required=True)
    for name in COMMANDS:
        importlib.import_module(f'jedi_repro.cli.{name}').register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from jedi_repro.errors import JediError
    try:
        rc = args.func(args)
    except JediError as exc:
        print('error: ' + textwrap.fill(str(exc), width=100, subsequent_indent='  ',
                                        replace_whitespace=False), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == '__main__':
    sys.exit(main())
