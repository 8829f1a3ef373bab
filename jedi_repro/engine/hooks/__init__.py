"""Engine hooks (registered in the MMAction2 ``HOOKS`` registry)."""
from jedi_repro.engine.hooks.finite_loss_hook import FiniteLossHook
from jedi_repro.engine.hooks.jedi_distill_hook import JEDIDistillHook, gamma_factor
from jedi_repro.engine.hooks.resume_hook import ExactResumeHook, last_checkpoint
from jedi_repro.engine.hooks.val_plateau_hook import ValPlateauHook, plateau_summary

__all__ = ['ExactResumeHook', 'FiniteLossHook', 'JEDIDistillHook', 'ValPlateauHook', 'gamma_factor',
           'last_checkpoint', 'plateau_summary']
