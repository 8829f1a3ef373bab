"""What a run shows on the console: quiet by default, everything with ``jedi -v``.

Quiet (the default) keeps mmengine's full log in the run's work dir (its ``FileHandler``) and raises only
the console ``StreamHandler`` of the run's ``MMLogger`` to ERROR; ``ConsoleProgressHook`` then shows a tqdm
bar over epochs and one short line per validation epoch. Verbose streams mmengine's log as mmengine does.
The mode travels in ``$JEDI_VERBOSE`` so that subprocesses (study workers) inherit it.
"""
from __future__ import annotations

import contextlib
import functools
import io
import logging
import os

VERBOSE_ENV = 'JEDI_VERBOSE'
# Third-party loggers that talk at INFO on every run (MLflow's database migrations, alembic).
CHATTY_LOGGERS = ('mlflow', 'alembic')


#: the longest a running stage stays silent on the console (``jedi_repro.engine.hooks.console_hook``,
#: the study runner's wait loop): under load an epoch or a trial can take minutes
HEARTBEAT_S = 45.0


def duration(seconds: float) -> str:
    """``75`` -> ``'1 min 15 s'``, ``3725`` -> ``'1 h 02 min'``: a time people read at a glance."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f'{s} s'
    if s < 3600:
        return f'{s // 60} min {s % 60:02d} s'
    return f'{s // 3600} h {s % 3600 // 60:02d} min'


def eta_s(done_units: float, done_s: float, left_units: float) -> float | None:
    """Seconds left at the rate measured so far (``done_s / done_units``); None before any unit is done."""
    if done_units <= 0 or done_s <= 0:
        return None
    return done_s / done_units * max(0.0, left_units)


def verbose() -> bool:
    """Whether mmengine's log streams to the console (``jedi -v``)."""
    return os.environ.get(VERBOSE_ENV, '') not in ('', '0')


def set_verbose(flag: bool) -> None:
    """Set the console mode for this process and the subprocesses it starts."""
    os.environ[VERBOSE_ENV] = '1' if flag else '0'
    if not flag:  # MLflow sets its loggers' level from this variable when it is imported
        os.environ.setdefault('MLFLOW_LOGGING_LEVEL', 'WARNING')
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)


def quiet_console_handlers(logger: logging.Logger, level: int = logging.ERROR) -> None:
    """Raise the level of the logger's console handlers; its log files keep every line."""
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(level)


def log_file(logger: logging.Logger) -> str | None:
    """The file the run's logger writes to (mmengine's ``<work_dir>/<timestamp>/<timestamp>.log``)."""
    return next((h.baseFilename for h in logger.handlers if isinstance(h, logging.FileHandler)), None)


@functools.cache
def _quiet_runner_class(label: str):
    from mmengine.runner import Runner

    class QuietRunner(Runner):
        """A ``Runner`` whose logger writes its file but streams only errors to the console, and whose
        ``ConsoleProgressHook`` shows a bar and one line per epoch instead."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            from jedi_repro.engine.hooks.console_hook import ConsoleProgressHook
            self.register_hook(ConsoleProgressHook(label=label))

        def build_logger(self, *args, **kwargs):
            logger = super().build_logger(*args, **kwargs)
            quiet_console_handlers(logger)
            return logger

        def load_checkpoint(self, *args, **kwargs):
            # mmengine's checkpoint loader announces itself with print() (logger=None); route that one
            # line to the run's log instead of the console.
            with contextlib.redirect_stdout(io.StringIO()) as out:
                ckpt = super().load_checkpoint(*args, **kwargs)
            if out.getvalue().strip():
                self.logger.info(out.getvalue().strip())
            return ckpt

    return QuietRunner


def runner_class(label: str = 'train'):
    """mmengine's ``Runner``, or in quiet mode a subclass whose logger does not stream to the console and
    that shows ``ConsoleProgressHook``'s bar and epoch lines, labelled ``label``.

    The console handler has to be quiet before the Runner's constructor logs the environment and the
    config, hence a ``build_logger`` override rather than a hook.
    """
    from mmengine.runner import Runner
    return Runner if verbose() else _quiet_runner_class(label)
