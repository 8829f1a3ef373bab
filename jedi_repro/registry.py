"""Registries. Components are registered into MMAction2's registries (children of mmengine's root), so
configs with ``default_scope = 'mmaction'`` build them by ``type=`` alongside MMAction2's own; fusions
and KD losses get registries of their own, so adding one needs no edit inside the framework."""
from mmaction.registry import DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS  # noqa: F401
from mmengine.registry import Registry

FUSIONS = Registry('jedi fusion', scope='jedi_repro', locations=['jedi_repro.models.fusions'])
KD_LOSSES = Registry('jedi kd loss', scope='jedi_repro', locations=['jedi_repro.models.kd_losses'])
