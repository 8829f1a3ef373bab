"""mmengine hook that reports the per-epoch validation objective to an Optuna trial (median pruner)."""
from __future__ import annotations

from mmengine.hooks import Hook

from jedi_repro.errors import JediError
from jedi_repro.registry import HOOKS


@HOOKS.register_module()
class OptunaPruningHook(Hook):
    """Report ``metrics[metric]`` after each validation epoch; raise ``TrialPruned`` when told to.

    Args:
        trial: the running ``optuna.Trial``.
        metric: the validation key, ``{dataset|mean}/{role}/{metric}``.
        step_offset: added to the epoch, so that the seeds of one trial report distinct steps
            (seed k reports at ``k * STEP_STRIDE + epoch``; trials compare at equal steps).
    """

    priority = 'LOW'
    STEP_STRIDE = 100_000

    def __init__(self, trial, metric: str, step_offset: int = 0):
        self.trial = trial
        self.metric = metric
        self.step_offset = step_offset

    def after_val_epoch(self, runner, metrics=None) -> None:
        import optuna

        metrics = metrics or {}
        if self.metric not in metrics:
            raise JediError(f'pruner: validation metrics have no key "{self.metric}" (the study objective); '
                            f'available: {sorted(metrics)}')
        step = self.step_offset + int(runner.epoch)
        self.trial.report(float(metrics[self.metric]), step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f'pruned at epoch {runner.epoch} ({self.metric}={metrics[self.metric]})')
