"""``JEDIDistillHook``: switches the teachers and the distillation on and schedules gamma.

The teachers are part of the model from construction (DESIGN.md, "Where the hook sits"); this hook only
flips ``model.distill`` in ``before_train`` and sets ``model.current_gamma`` before every iteration. A
config without it trains the students alone: the plain fine-tuning baseline.
"""
from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from jedi_repro.errors import JediError
from jedi_repro.registry import HOOKS

SCHEDULES = ('constant', 'linear')


def gamma_factor(schedule: str, epoch_float: float, warmup_epochs: float = 0.0,
                 stop_epoch: float | None = None) -> float:
    """Multiplier of gamma at a (fractional) epoch.

    Args:
        schedule: ``constant`` (1) or ``linear`` (0 -> 1 over ``warmup_epochs``).
        epoch_float: epochs done so far, fractional (``epoch + iter_in_epoch / iters_per_epoch``).
        warmup_epochs: length of the linear warm-up.
        stop_epoch: from this epoch on the factor is 0 (distillation stops); ``None``: never.
    """
    if stop_epoch is not None and epoch_float >= stop_epoch:
        return 0.0
    if schedule == 'linear' and warmup_epochs > 0:
        return min(1.0, epoch_float / warmup_epochs)
    return 1.0


@HOOKS.register_module()
class JEDIDistillHook(Hook):
    """Turn on teachers + KD, schedule gamma per iteration, log gamma and teacher/student agreement.

    The 3n loss terms (``loss_student_*``, ``loss_teacher_*``, ``loss_kd_*``) reach the message hub as
    ``train/...`` scalars through the model's ``log_vars``; this hook adds ``train/gamma`` and
    ``train/agree_{dataset}`` (top-1 agreement of student i and teacher i on the pool batch).

    Args:
        gamma: overrides ``model.gamma`` when given.
        schedule: ``constant`` or ``linear`` (warm-up).
        warmup_epochs: linear warm-up length in epochs (fractional allowed).
        stop_epoch: epoch from which gamma is 0 (``None``: never).
    """

    priority = 'NORMAL'

    def __init__(self, gamma: float | None = None, schedule: str = 'constant', warmup_epochs: float = 0.0,
                 stop_epoch: float | None = None):
        if schedule not in SCHEDULES:
            raise JediError(f'JEDIDistillHook schedule={schedule!r}; allowed: {SCHEDULES}')
        if gamma is not None and gamma < 0:
            raise JediError(f'JEDIDistillHook gamma={gamma} must be >= 0')
        if warmup_epochs < 0:
            raise JediError(f'JEDIDistillHook warmup_epochs={warmup_epochs} must be >= 0')
        self.gamma = gamma
        self.schedule = schedule
        self.warmup_epochs = float(warmup_epochs)
        self.stop_epoch = stop_epoch

    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_train(self, runner) -> None:
        model = self._model(runner)
        if not hasattr(model, 'distill'):
            raise JediError(f'JEDIDistillHook needs a JEDIModel, got {type(model).__name__}')
        model.distill = True
        if self.gamma is not None:
            model.gamma = float(self.gamma)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        model = self._model(runner)
        iters = max(1, len(runner.train_dataloader))
        t = runner.epoch + batch_idx / iters
        factor = gamma_factor(self.schedule, t, self.warmup_epochs, self.stop_epoch)
        model.current_gamma = model.gamma * factor

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        model = self._model(runner)
        hub = runner.message_hub
        hub.update_scalar('train/gamma', float(model.current_gamma))
        for key, v in model.last_stats.items():
            hub.update_scalar(f'train/{key}', float(v))
