"""mmengine hook that logs per-epoch validation metrics to one MLflow run at ``step=epoch``.

The curves go under ``val_epoch/...``; ``val/...`` holds the validation metrics of the checkpoint(s) a
run tested, logged once at the end beside ``test/...`` (so MLflow's runs table shows what was chosen).
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
        values = {f'{self.prefix}/{k}': float(v) for k, v in (metrics or {}).items()
                  if _is_number(v)}
        if values:
            log_metrics(self.client, self.run_id, values, step=int(runner.epoch))


def _is_number(value) -> bool:
    if isinstance(value, bool):
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
