"""``ConsoleProgressHook``: a quiet run's console, a tqdm bar over epochs and one short line per epoch.

mmengine's own validation line lists every metric of every role and dataset (thousands of characters for
JEDI); this hook prints the numbers a user watches, ``epoch 3/150  val mean primary: expert 71.2  student
73.5  teacher 75.1  loss 0.912``, and leaves the full log to the run's log file (whose path it prints).
With a ``ValPlateauHook`` the bar's end is the epoch where the run stops if validation does not improve
again, so its ETA is an honest bound rather than the ``max_epochs`` cap.
"""
from __future__ import annotations

import math
import os
import sys

from mmengine.hooks import Hook

from jedi_repro.registry import HOOKS

ROLES = ('expert', 'student', 'teacher')


def epoch_line(epoch: int, max_epochs: int | None, metrics: dict, loss: float | None = None) -> str:
    """One short line of an epoch's validation metrics.

    JEDI runs (``mean/{role}/primary`` keys) show each role's mean of the datasets' primary metrics (top-1,
    or mAP where declared), in %; older runs the mean top-1; other runs (e.g. an
    MMAction2 expert's ``acc/top1``) their first three scalar metrics.
    """
    head = f'epoch {epoch}' + (f'/{max_epochs}' if max_epochs else '')
    # the mean of each dataset's primary metric (jedi_repro.aggregates) where the run has it
    name = next((m for m in ('primary', 'top1') if any(f'mean/{r}/{m}' in metrics for r in ROLES)), None)
    roles = [r for r in ROLES if f'mean/{r}/{name}' in metrics]
    if roles:
        body = f'val mean {name}: ' + '  '.join(f'{r} {100 * float(metrics[f"mean/{r}/{name}"]):.1f}'
                                                for r in roles)
    else:
        scalars = [(k, float(v)) for k, v in metrics.items() if isinstance(v, (int, float))][:3]
        body = 'val ' + '  '.join(f'{k} {v:.4g}' for k, v in scalars)
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

    def __init__(self, label: str = 'train', stream=None):
        self.label = label
        self.stream = stream
        self.bar = None

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

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self.bar is None:  # a validation outside training (runner.val())
            return
        from tqdm import tqdm
        loss = runner.message_hub.get_scalar('train/loss') if 'train/loss' in runner.message_hub.log_scalars \
            else None
        tqdm.write(f'  {self.label} ' + epoch_line(int(runner.epoch), self.max_epochs, dict(metrics or {}),
                                                   loss.current() if loss is not None else None))
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
