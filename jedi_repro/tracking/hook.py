"""mmengine hook that logs per-epoch validation metrics to one MLflow run at ``step=epoch``.

The curves go under ``val_epoch/...`` (step histories of a few keys: :func:`curve_keys`); ``val/...``
holds the validation metrics of the checkpoint(s) a run tested, logged once at the end beside ``test/...``
(so MLflow's runs table shows what was chosen).
"""
from __future__ import annotations

from collections.abc import Mapping

from mmengine.hooks import Hook

from jedi_repro.registry import HOOKS
from jedi_repro.tracking.runs import log_metrics

EPOCH_PREFIX = 'val_epoch'


@HOOKS.register_module()
class MLflowMetricsHook(Hook):
    """Log ``after_val_epoch`` metrics as ``{prefix}/{key}`` to an existing run (explicit run id).

    Args:
        client: a :class:`~jedi_repro.tracking.client.RetryingClient`.
        run_id: the seed run to log into.
        prefix: the key prefix (``val_epoch``).
    """

    priority = 'LOW'

    def __init__(self, client, run_id: str, prefix: str = EPOCH_PREFIX):
        self.client = client
        self.run_id = run_id
        self.prefix = prefix

    def after_val_epoch(self, runner, metrics: Mapping[str, float] | None = None) -> None:
        numbers = {k: float(v) for k, v in (metrics or {}).items() if _is_number(v)}
        values = {f'{self.prefix}/{k}': v for k, v in numbers.items() if k in curve_keys(numbers)}
        if values:
            log_metrics(self.client, self.run_id, values, step=int(runner.epoch))


#: The means a per-epoch curve keeps besides each dataset's primary metric (top1: objectives of older specs).
CURVE_MEANS = ('primary', 'top1')


def curve_keys(metrics: Mapping[str, float]) -> set[str]:
    """The per-epoch keys worth a step history: each dataset's primary metric (mAP where the run computed
    it, else top-1) per role, and the roles' ``mean/{role}/{primary,top1}``; a few curves a reader
    compares instead of every metric of every role and dataset (the final ``val/...`` and ``test/...``
    keep them all). Runs without JEDI keys (``{scope}/{role}/{metric}``) keep every key."""
    roles = ('expert', 'student', 'teacher')
    jedi = [k.split('/') for k in metrics if k.count('/') == 2 and k.split('/')[1] in roles]
    if not jedi:
        return set(metrics)
    keep = set()
    for scope, role, name in jedi:
        if scope == 'mean':
            if name in CURVE_MEANS:
                keep.add(f'{scope}/{role}/{name}')
        elif name == ('mAP' if f'{scope}/{role}/mAP' in metrics else 'top1'):
            keep.add(f'{scope}/{role}/{name}')
    return keep


def _is_number(value) -> bool:
    if isinstance(value, bool):
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
