"""The ``jedi`` command line: one subcommand per pipeline stage.

Each subcommand lives in its own module here with ``register(subparsers)`` (adds the parser and sets
``func``); heavy imports happen inside ``func`` so that ``jedi --help`` stays fast. A ``JediError`` (bad
input, failed stage) becomes ``error: <message>`` and exit status 1, without a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import signal
import sys
import textwrap
import threading

# Order = the pipeline order shown by ``jedi --help``.
COMMANDS = ('synth', 'data', 'experts', 'extract', 'features', 'train', 'study', 'sync', 'report', 'ui',
            'server', 'demo', 'bench')

DESCRIPTION = """\
JEDI experiment harness (arXiv 2308.04934): frozen MMAction2 experts, jointly trained students and
teachers with knowledge distillation, Optuna studies, MLflow tracking and Markdown reports.

pipeline: synth (or data init) -> experts train -> extract -> train -> study -> report
          (jedi demo runs them all)
workspace: $JEDI_HOME, default ./jedi_work (features, work dirs, MLflow database, study journals)"""


VERBOSE_HELP = ('stream the full mmengine log to the console (default: progress bars and one line per '
                'epoch or trial; the full log goes to the run\'s work dir)')
#: What -v means where it is not mmengine's log (``prog`` of the subcommand -> help text).
VERBOSE_HELP_BY_COMMAND = {
    'jedi ui': 'also print the MLflow server\'s line per HTTP request (default: quiet)',
    'jedi server': 'also print the MLflow server\'s line per HTTP request (default: quiet)',
    'jedi features info': 'accepted for symmetry; `features info` prints the same either way',
    'jedi report': 'accepted for symmetry; `report` prints the same either way',
    'jedi study status': 'accepted for symmetry; `study status` prints the same either way',
}


def add_verbose_flag(parser: argparse.ArgumentParser, top: bool = True) -> None:
    """``-v/--verbose`` on ``jedi`` and every (nested) subcommand: ``jedi -v train`` = ``jedi train -v``."""
    parser.add_argument('-v', '--verbose', action='store_true', default=False if top else argparse.SUPPRESS,
                        help=VERBOSE_HELP_BY_COMMAND.get(parser.prog, VERBOSE_HELP))
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for child in dict.fromkeys(action.choices.values()):
            add_verbose_flag(child, top=False)


def _apply_verbose(args) -> None:
    """``-v`` (or ``$JEDI_VERBOSE=1``) streams mmengine's log; otherwise the console is quiet."""
    from jedi_repro.console import set_verbose, verbose
    set_verbose(args.verbose or verbose())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='jedi', description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    from jedi_repro import __version__
    parser.add_argument('--version', action='version', version=f'jedi_repro {__version__}')
    sub = parser.add_subparsers(dest='command', metavar='STAGE', required=True)
    for name in COMMANDS:
        importlib.import_module(f'jedi_repro.cli.{name}').register(sub)
    add_verbose_flag(parser)
    return parser


def _interrupt_on_sigterm() -> None:
    """SIGTERM (a scheduler's stop, ``kill``) unwinds like Ctrl-C: runs are closed KILLED, trials marked
    interrupted, temporary files removed."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f'signal {signum}')
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _apply_verbose(args)
    from jedi_repro.errors import JediError
    _interrupt_on_sigterm()
    import logging
    logging.raiseExceptions = False  # a log file on a full disk must not print a traceback per record
    from jedi_repro.atomic import disk_error, is_disk_error
    try:
        try:
            rc = args.func(args)
        except OSError as exc:  # a full, read-only or forbidden disk wherever the write was: one paragraph
            if not is_disk_error(exc):
                raise
            raise disk_error(exc) from None
    except JediError as exc:
        # paths are never broken (at a hyphen or anywhere), so they can be copied from the message
        print('error: ' + textwrap.fill(str(exc), width=100, subsequent_indent='  ', replace_whitespace=False,
                                        break_on_hyphens=False, break_long_words=False), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == '__main__':
    sys.exit(main())
