"""``ValPlateauHook``: keep the per-epoch validation metrics, stop at a plateau, say whether a run converged.

A run has converged when every monitored validation metric (by default the students' and the teachers'
mean top-1) stopped improving: its best epoch lies at least ``patience`` epochs before the last one. The
hook stops training there (mmengine's ``EarlyStoppingHook`` watches a single key; JEDI's students and
teachers plateau at different epochs, and both are outputs of the method), so ``train_cfg.max_epochs``
is only a cap. A run that reaches the cap while a monitor is still improving is reported as not
converged. ``train()`` also reads the recorded history: the validation metrics of the checkpoint each
role is tested at come from it.
"""
from __future__ import annotations

import math

from mmengine.hooks import Hook

from jedi_repro.aggregates import is_fraction_metric, pct
from jedi_repro.errors import JediError
from jedi_repro.registry import HOOKS

HISTORY_KEY = 'val_plateau_history'


def _shown(key: str, value: float) -> str:
    return f'{pct(value)} %' if is_fraction_metric(key) else f'{value:.4f}'


def plateau_summary(history: list[tuple[int, dict]], monitors, patience: int,
                    min_delta: float = 0.0) -> dict:
    """Best epoch of every monitor and whether all of them have plateaued.

    Args:
        history: ``[(epoch, {key: value})]`` in epoch order (epochs counted from 1).
        monitors: keys to watch (higher is better).
        patience: epochs without an improvement larger than ``min_delta`` that make a plateau.
        min_delta: the smallest change that counts as an improvement.

    Returns:
        ``{'monitors': {key: {'best_epoch', 'best', 'last_epoch'}}, 'last_epoch', 'converged'}``.
        ``converged`` is True when every monitor's best epoch is ``patience`` or more epochs old.
    """
    out, last = {}, history[-1][0] if history else 0
    for key in monitors:
        best, best_epoch = -math.inf, None
        for epoch, metrics in history:
            v = metrics.get(key)
            if v is not None and math.isfinite(v) and v > best + (0.0 if best_epoch is None else min_delta):
                best, best_epoch = float(v), epoch
        out[key] = dict(best_epoch=best_epoch, best=None if best_epoch is None else best, last_epoch=last)
    converged = bool(history) and all(m['best_epoch'] is not None and last - m['best_epoch'] >= patience
                                      for m in out.values())
    return dict(monitors=out, last_epoch=last, converged=converged)


@HOOKS.register_module()
class ValPlateauHook(Hook):
    """Record validation metrics per epoch; stop training once every monitor has plateaued.

    Args:
        monitors: validation keys ``{dataset|mean}/{role}/{metric}`` to watch (higher is better).
        patience: a monitor has plateaued when it has not improved by more than ``min_delta`` for this
            many epochs.
        min_delta: the smallest change that counts as an improvement.
        stop: stop training once every monitor has plateaued (False: record and judge only).
    """

    priority = 'LOW'

    def __init__(self, monitors=('mean/student/primary', 'mean/teacher/primary'), patience: int = 10,
                 min_delta: float = 0.0, stop: bool = True):
        monitors = [monitors] if isinstance(monitors, str) else list(monitors)
        if not monitors:
            raise JediError('ValPlateauHook needs at least one monitor')
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise JediError(f'ValPlateauHook patience={patience!r} must be an integer >= 1')
        if not isinstance(min_delta, (int, float)) or min_delta < 0:
            raise JediError(f'ValPlateauHook min_delta={min_delta!r} must be a number >= 0')
        self.monitors = monitors
        self.patience = patience
        self.min_delta = float(min_delta)
        self.stop = bool(stop)
        self.history: list[tuple[int, dict]] = []
        self.stopped_early = False

    def before_train(self, runner) -> None:
        # kept in the message hub, which checkpoints carry: a resumed run keeps its earlier epochs
        self.history = [tuple(h) for h in runner.message_hub.get_info(HISTORY_KEY, [])]
        self.stopped_early = False
        if self.stop and self.history and plateau_summary(self.history, self.monitors, self.patience,
                                                          self.min_delta)['converged']:
            # resumed after the epoch that reached the plateau: nothing left to train
            self.stopped_early = True
            runner.train_loop.stop_training = True

    def after_val_epoch(self, runner, metrics=None) -> None:
        metrics = dict(metrics or {})
        missing = [k for k in self.monitors if k not in metrics]
        if missing:
            raise JediError(f'ValPlateauHook: validation metrics have no key(s) {missing}; available: '
                            f'{sorted(metrics)}')
        self.history.append((int(runner.epoch), {k: float(v) for k, v in metrics.items()
                                                 if isinstance(v, (int, float))}))
        runner.message_hub.update_info(HISTORY_KEY, list(self.history))
        if not self.stop:
            return
        s = plateau_summary(self.history, self.monitors, self.patience, self.min_delta)
        if s['converged']:
            self.stopped_early = True
            runner.train_loop.stop_training = True
            best = ', '.join(f'{k} {_shown(k, m["best"])} at epoch {m["best_epoch"]}'
                             for k, m in s['monitors'].items())
            runner.logger.info(f'validation plateau ({self.patience} epochs without improvement): '
                               f'stopping after epoch {runner.epoch}; best {best}')

    def metrics_at(self, epoch: int) -> dict:
        """The validation metrics recorded after ``epoch`` (``{}`` if none were)."""
        return next((m for e, m in self.history if e == epoch), {})

    def summary(self, max_epochs: int | None = None) -> dict:
        """:func:`plateau_summary` of the run + the settings, ``stopped_early`` and ``curves`` (every
        monitor's value per epoch, for learning curves and convergence checks)."""
        s = plateau_summary(self.history, self.monitors, self.patience, self.min_delta)
        s.update(patience=self.patience, min_delta=self.min_delta, max_epochs=max_epochs,
                 stopped_early=self.stopped_early, stop=self.stop,
                 curves={k: [m.get(k) for _, m in self.history] for k in self.monitors})
        return s
