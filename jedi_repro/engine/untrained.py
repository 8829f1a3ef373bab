"""Roles a run does not train (the teachers of the student-only baseline), kept out of every result.

The teachers live in ``JEDIModel`` from construction, but only ``JEDIDistillHook`` switches their loss
on, and with ``model.beta = 0`` they get no gradient (distillation targets are detached). Their outputs
are then the random initialisation: ``train()`` neither computes, selects on, logs nor reports them.
metrics.json holds ``null`` for such a role and lists it under ``untrained``; MLflow gets no key for it
(the seed run is tagged ``jedi.untrained``); reports show "not trained".
"""
from __future__ import annotations

from collections.abc import Mapping

DISTILL_HOOK = 'JEDIDistillHook'


def untrained_roles(cfg) -> tuple[str, ...]:
    """``('teacher',)`` when the config trains no teacher (no ``JEDIDistillHook``, or ``model.beta == 0``)."""
    hooks = [h.get('type') for h in (cfg.get('custom_hooks') or []) if isinstance(h, Mapping)]
    beta = (cfg.get('model') or {}).get('beta', 1.0)
    return ('teacher',) if DISTILL_HOOK not in hooks or float(beta) == 0.0 else ()


def drop_role_keys(keys, roles) -> list[str]:
    """Metric keys ``{dataset|mean}/{role}/{metric}`` without those of ``roles``."""
    keys = [keys] if isinstance(keys, str) else list(keys or [])
    return [k for k in keys if str(k).split('/')[1:2] not in [[r] for r in roles]]


def exclude_untrained(cfg, roles) -> None:
    """Stop computing, selecting on and monitoring ``roles`` (in place, before the Runner is built)."""
    if not roles:
        return
    from jedi_repro.engine.metrics.jedi_metric import ROLES
    keep = [r for r in ROLES if r not in roles]
    for key in ('val_evaluator', 'test_evaluator'):
        if isinstance(cfg.get(key), Mapping) and cfg[key].get('type') == 'JEDIMetric':
            cfg[key]['roles'] = keep
    hooks = cfg.get('default_hooks') or {}
    ckpt, plateau = hooks.get('checkpoint'), hooks.get('plateau')
    if ckpt and ckpt.get('save_best'):
        ckpt['save_best'] = drop_role_keys(ckpt['save_best'], roles) or ['mean/student/primary']
    if plateau and plateau.get('monitors'):
        plateau['monitors'] = drop_role_keys(plateau['monitors'], roles) or ['mean/student/primary']


def mark_untrained(metrics: dict, roles) -> dict:
    """Set ``roles`` to ``None`` in every metrics block and selection, list them under ``untrained``."""
    metrics['untrained'] = list(roles)
    if not roles:
        return metrics
    blocks = [metrics, metrics.get('val') or {}]
    for block in blocks:
        for per_role in [*(block.get('datasets') or {}).values(), block.get('mean')]:
            if isinstance(per_role, dict):
                per_role.update({r: None for r in roles})
    if isinstance(metrics.get('selection'), dict):
        metrics['selection'].update({r: None for r in roles})
    return metrics
