"""Distributed training under ``torchrun`` (the OpenMMLab convention: ``launcher`` in the config).

``jedi train CONFIG ... --launcher pytorch`` sets ``cfg.launcher = 'pytorch'``; mmengine's ``Runner`` then
initialises the process group from torchrun's environment and wraps the model in
``MMDistributedDataParallel``. What this module adds so that the same run works on CPU and GPU:

* the backend: ``env_cfg.dist_cfg.backend`` if the config sets it, else ``nccl`` with CUDA and ``gloo``
  without (mmengine's own default is ``nccl``, which has no CPU implementation);
* the model wrapper: mmengine passes ``device_ids=[LOCAL_RANK]`` to DDP, which DDP rejects for a CPU
  module; on CPU ``model_wrapper_cfg`` sets ``device_ids=None`` (what DDP wants for CPU and
  single-device modules). ``find_unused_parameters`` defaults to True because the student-only baseline
  (no ``JEDIDistillHook``) leaves the teachers and the fusion without gradients;
* ``compat.py`` lets mmengine's ``_init_dist_pytorch`` skip ``torch.cuda.set_device`` on a machine without
  CUDA (fix 4 there).

Data: every rank walks the same batch plan and takes its share of every stream
(:class:`jedi_repro.data.multi_dataset.JEDITrainBatches`), so the ranks' batches together are the batch
one process would see with the same seed; evaluation batches are split across ranks and mmengine's
``Evaluator`` gathers the predictions (``collect_results``) before ``JEDIMetric`` computes the metrics on
rank 0 and broadcasts them. Only rank 0 writes ``metrics.json``, checkpoints (mmengine's
``CheckpointHook`` is master-only) and MLflow runs.
"""
from __future__ import annotations

import os

LAUNCHERS = ('none', 'pytorch')  # SLURM jobs run torchrun per node (README, "Scaling out")


def env_rank() -> int:
    """This process's global rank from torchrun's environment, before any process group."""
    rank = os.environ.get('RANK', '0')
    return int(rank) if rank.isdigit() else 0


def default_backend(cuda_available: bool) -> str:
    return 'nccl' if cuda_available else 'gloo'


def check_global_batch(data, world_size: int) -> None:
    """Batch sizes are global: each rank needs at least one row of every stream (checked before the run)."""
    from jedi_repro.errors import JediError
    lab, pool = int(data.get('labeled_batch_size', 32)), int(data.get('unlabeled_batch_size', 128))
    if world_size > 1 and (lab < world_size or 0 < pool < world_size):
        raise JediError(f'data.labeled_batch_size={lab} and data.unlabeled_batch_size={pool} are global '
                        f'batch sizes: each must be at least the number of processes ({world_size}) or 0 '
                        '(pool)')


def configure_launcher(cfg, launcher: str | None) -> None:
    """Set ``cfg.launcher`` (argument over config) and the CPU/GPU defaults of a distributed run."""
    import torch

    from jedi_repro.errors import JediError
    launcher = launcher or cfg.get('launcher') or 'none'
    if launcher not in LAUNCHERS:
        raise JediError(f'launcher={launcher!r} is unknown; use one of {list(LAUNCHERS)}')
    if launcher != 'none' and 'RANK' not in os.environ:
        raise JediError(f'--launcher {launcher} needs the environment torchrun sets (RANK, WORLD_SIZE, '
                        'MASTER_ADDR, ...): start it as `torchrun --nproc_per_node N -m jedi_repro.cli '
                        'train ...`')
    cfg.launcher = launcher
    if launcher == 'none':
        return
    check_global_batch(cfg.get('data') or {}, int(os.environ.get('WORLD_SIZE', '1')))
    cuda = torch.cuda.is_available()
    env = cfg.get('env_cfg') or {}
    dist_cfg = dict(env.get('dist_cfg') or {})
    dist_cfg.setdefault('backend', default_backend(cuda))
    cfg.env_cfg = dict(env, dist_cfg=dist_cfg)
    if cfg.get('model_wrapper_cfg') is None:
        wrapper = dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                       find_unused_parameters=bool(cfg.get('find_unused_parameters', True)))
        if not cuda:
            wrapper['device_ids'] = None  # DDP refuses device_ids for a CPU module
        cfg.model_wrapper_cfg = wrapper
