"""Engine hooks (registered in the MMAction2 ``HOOKS`` registry)."""
from jedi_repro.engine.hooks.jedi_distill_hook import JEDIDistillHook, gamma_factor
from jedi_repro.engine.hooks.val_plateau_hook import ValPlateauHook, plateau_summary

__all__ = ['JEDIDistillHook', 'ValPlateauHook', 'gamma_factor', 'plateau_summary']
