"""``FiniteLossHook``: a run whose loss stops being a finite number fails at once, naming where.

Without it a diverged run (an lr far too high, say) trains to the end on NaN weights and reports chance
numbers as a result. (mmdetection's ``CheckInvalidLossHook`` does the same; neither mmengine nor
mmaction2 ships one.)
"""
from __future__ import annotations

import math

from mmengine.hooks import Hook

from jedi_repro.errors import JediError
from jedi_repro.registry import HOOKS


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Raise ``JediError`` after the first training iteration whose total loss is NaN or infinite."""

    priority = 'VERY_HIGH'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        loss = (outputs or {}).get('loss')
        if loss is None:
            return
        value = _scalar(loss)
        if not math.isfinite(value):
            terms = ', '.join(f'{k} {_scalar(v):.4g}' for k, v in outputs.items() if k != 'loss')
            raise JediError(f'training diverged: the loss is {value} at epoch {runner.epoch + 1}, iteration '
                            f'{batch_idx + 1} ({terms}); lower optim_wrapper.optimizer.lr, or check the '
                            'features and the loss weights')


def _scalar(value) -> float:
    """A loss as a float without autograd's warning about converting a tensor that requires grad."""
    detach = getattr(value, 'detach', None)
    return float(detach() if detach is not None else value)
