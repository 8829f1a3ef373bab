"""``ExactResumeHook``: a run killed at any point resumes to the result it would have had.

Two things make a resumed run equal to an uninterrupted one:

* the random state at the start of every epoch is a function of (seed, epoch), not of how many epochs
  this process has run (the batch order already is: ``JEDITrainBatches`` plans each epoch from
  ``[seed, 1000 + epoch]``; the teachers' dropout draws from torch's generator, reseeded here);
* the last checkpoint (``last.pth``) is written *after* each epoch's validation and best-checkpoint
  update, so it carries that epoch's validation in the message hub (plateau history, best scores and
  best-checkpoint paths) with the weights, optimizer and scheduler state. mmengine's own interval
  checkpoint is written before validation: resuming from it would lose the epoch's validation. The file
  is written under a temporary name and renamed, so a kill during the write leaves the previous one.

Cost: one checkpoint write per epoch (the students' and teachers' weights with the optimizer state).
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.runner.base_loop import BaseLoop

from jedi_repro.registry import HOOKS

LAST_CHECKPOINT = 'last.pth'


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` (counted from 0) of a run seeded ``seed``."""
    return int(np.random.SeedSequence([int(seed), 2000 + int(epoch)]).generate_state(1)[0])


def seed_epoch(seed: int, epoch: int) -> None:
    """Reseed torch, numpy's and Python's global generators for ``epoch``."""
    import torch
    s = epoch_seed(seed, epoch)
    torch.manual_seed(s)
    np.random.seed(s)
    random.seed(s)


def last_checkpoint(work_dir: str | Path) -> Path | None:
    """The run's resumable checkpoint, or None."""
    path = Path(work_dir) / LAST_CHECKPOINT
    return path if path.is_file() else None


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Reseed every epoch from (seed, epoch); keep ``WORK_DIR/last.pth`` after every validation.

    Args:
        save_last: write ``last.pth`` (False: only reseed; the run cannot be resumed).
    """

    priority = 'LOWEST'  # after CheckpointHook's best checkpoint and ValPlateauHook's history

    def __init__(self, save_last: bool = True):
        self.save_last = bool(save_last)

    def before_train_epoch(self, runner) -> None:
        seed_epoch(runner.seed, runner.epoch)

    def after_val_epoch(self, runner, metrics=None) -> None:
        if (not self.save_last or not isinstance(getattr(runner, '_train_loop', None), BaseLoop)
                or not is_main_process()):  # under torchrun rank 0 writes (mmengine's save is master-only)
            return
        # during validation runner.epoch counts the finished epochs: the resumed loop starts at the next.
        # The save is atomic (jedi_repro.compat, fix 6): a full disk keeps the previous last.pth and leaves
        # no partial file; the error names last.pth.
        runner.save_checkpoint(runner.work_dir, LAST_CHECKPOINT,
                               meta=dict(epoch=runner.epoch, iter=runner.iter), save_optimizer=True,
                               save_param_scheduler=True)
