"""Engine hooks (registered in the MMAction2 ``HOOKS`` registry)."""
from jedi_repro.engine.hooks.jedi_distill_hook import JEDIDistillHook, gamma_factor

__all__ = ['JEDIDistillHook', 'gamma_factor']
