"""``ConsoleProgressHook``: a quiet run's console, a tqdm bar over epochs and one short line per epoch.

mmengine's own validation line lists every metric of every role and dataset (thousands of characters for
JEDI); this hook prints the numbers a user watches, ``epoch 3/150  val mean primary, %: expert 71.20  student
73.50  teacher 75.10  loss 0.912``, and leaves the full log to the run's log file (whose path it prints).
Within an epoch longer than ``HEARTBEAT_S`` (``jedi_repro.console``) it says where the epoch is.
With a ``ValPlateauHook`` the bar's end is the epoch where the run stops if validation does not improve
again, so its ETA is an honest bound rather than the ``max_epochs`` cap.
"""
from __future__ import annotations

import math
import os
import sys
import time

from mmengine.hooks import Hook

from jedi_repro.aggregates import is_fraction_metric, pct
from jedi_repro.registry import HOOKS

ROLES = ('expert', 'student', 'teacher')


def epoch_line(epoch: int, max_epochs: int | None, metrics: dict, loss: float | None = None) -> str:
    """One short line of an epoch's validation metrics.

    JEDI runs (``mean/{role}/primary`` keys) show each role's mean of the datasets' primary metrics (top-1,
    or mAP where declared); older runs the mean top-1; other runs (e.g. an MMAction2 expert's ``acc/top1``)
    their first three scalar metrics. Accuracies in percent (``jedi_repro.aggregates.pct``), losses as
    they are.
    """
    head = f'epoch {epoch}' + (f'/{max_epochs}' if max_epochs else '')
    # the mean of each dataset's primary metric (jedi_repro.aggregates) where the run has it
    name = next((m for m in ('primary', 'top1') if any(f'mean/{r}/{m}' in metrics for r in ROLES)), None)
    roles = [r for r in ROLES if f'mean/{r}/{name}' in metrics]
    if roles:
        body = f'val mean {name}, %: ' + '  '.join(f'{r} {pct(metrics[f"mean/{r}/{name}"])}' for r in roles)
    else:
        scalars = [(k, float(v)) for k, v in metrics.items() if isinstance(v, (int, float))][:3]
        body = 'val ' + '  '.join(f'{k} {pct(v)} %' if is_fraction_metric(k) else f'{k} {v:.4g}'
                                  for k, v in scalars)
    tail = f'  loss {loss:.3f}' if loss is not None and math.isfinite(loss) else ''
    return f'{head}  {body}{tail}'


def expected_last_epoch(history: list[tuple[int, dict]], monitors, patience: int, cap: int) -> int:
    """The epoch a plateau-stopped run ends at if no monitor improves again (at most ``cap``)."""
    from jedi_repro.engine.hooks.val_plateau_hook import plateau_summary
    s = plateau_summary(history, monitors, patience)
    bests = [m['best_epoch'] or 0 for m in s['monitors'].values()]
    return min(cap, max([patience, *[b + patience for b in bests]]))


@HOOKS.register_module()
class ConsoleProgressHook(Hook):
    """A tqdm bar over epochs (stderr) and one short line per validation epoch (stdout).

    Args:
        label: the bar's description (e.g. ``train``, ``expert ucf_like``).
        stream: where the bar goes (default ``sys.stderr``).
    """

    priority = 'LOWEST'  # after ValPlateauHook has judged the epoch

    def __init__(self, label: str = 'train', stream=None, heartbeat_s: float | None = None):
        from jedi_repro.console import HEARTBEAT_S

        self.label = label
        self.stream = stream
        self.bar = None
        self.heartbeat_s = HEARTBEAT_S if heartbeat_s is None else heartbeat_s
        self._spoke = self._epoch_t0 = time.monotonic()

    def _plateau(self, runner):
        from jedi_repro.engine.hooks.val_plateau_hook import ValPlateauHook
        return next((h for h in runner.hooks if isinstance(h, ValPlateauHook) and h.stop), None)

    def before_train(self, runner) -> None:
        from tqdm import tqdm

        from jedi_repro.console import log_file
        path = log_file(runner.logger)
        if path:
            rel = os.path.relpath(path)  # shorter when the run lies below the current directory
            tqdm.write(f'  {self.label}: full log {path if rel.startswith("..") else rel}')
        self.max_epochs = int(getattr(runner.train_loop, 'max_epochs', 0) or 0) or None
        plateau = self._plateau(runner)
        total = self.max_epochs
        if plateau is not None and total:
            total = expected_last_epoch(plateau.history, plateau.monitors, plateau.patience, total)
        self.bar = tqdm(total=total, initial=int(runner.epoch), desc=f'  {self.label}', unit='epoch',
                        file=self.stream or sys.stderr, dynamic_ncols=True, leave=False)
        self._spoke = time.monotonic()

    def before_train_epoch(self, runner) -> None:
        self._epoch_t0 = time.monotonic()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Within a long epoch, a line every ``heartbeat_s``: where the epoch is and how long it has left."""
        now = time.monotonic()
        if self.bar is None or now - self._spoke < self.heartbeat_s:
            return
        from tqdm import tqdm

        from jedi_repro.console import duration, eta_s
        n = len(runner.train_dataloader) if hasattr(runner.train_dataloader, '__len__') else None
        done, spent = batch_idx + 1, now - self._epoch_t0
        left = eta_s(done, spent, n - done) if n else None
        tqdm.write(f'  {self.label} epoch {int(runner.epoch) + 1}' + (f'/{self.max_epochs}' if self.max_epochs
                                                                   else '')
                   + f': iteration {done}' + (f'/{n}' if n else '') + f', {duration(spent)} into the epoch'
                   + (f', ~{duration(left)} left in it' if left is not None else ''))
        self._spoke = now

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self.bar is None:  # a validation outside training (runner.val())
            return
        from tqdm import tqdm
        loss = runner.message_hub.get_scalar('train/loss') if 'train/loss' in runner.message_hub.log_scalars \
            else None
        tqdm.write(f'  {self.label} ' + epoch_line(int(runner.epoch), self.max_epochs, dict(metrics or {}),
                                                   loss.current() if loss is not None else None))
        self._spoke = time.monotonic()
        plateau = self._plateau(runner)
        if plateau is not None and self.max_epochs:
            self.bar.total = expected_last_epoch(plateau.history, plateau.monitors, plateau.patience,
                                                 self.max_epochs)
        self.bar.n = int(runner.epoch)
        self.bar.refresh()

    def after_train(self, runner) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
