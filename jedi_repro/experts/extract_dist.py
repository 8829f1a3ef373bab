"""``jedi extract ... --launcher pytorch``: the blocks of an extraction split over torchrun's processes.

Every rank reads the same plan (experts x datasets x splits, in the order ``extract`` writes them) and
computes the blocks ``rank, rank + W, ...``, each written atomically as one ``.npy`` part into
``<out's parent>/.<out's name>.parts/`` under its block key (the key of the extraction cache: config, test
pipeline, checkpoint sha256, list content, video sizes and mtimes). After a barrier, rank 0 runs the
ordinary ``extract`` in merge mode: every block must come from the parts (a missing or damaged one is an
error), and the store is written, validated and renamed into place as in one process, so its content hash
is the one-process store's. The parts are deleted once the store exists.

* A rank that crashes never reaches the barrier: torchrun stops the others, no store is written, and the
  parts already finished stay for the rerun, which reuses them (a part is only a finished block: it is
  renamed into place after it is complete).
* On GPU each rank runs its expert on ``cuda:LOCAL_RANK``; the barrier uses gloo either way.
* The block cache of ``$JEDI_HOME/cache/extract`` is not consulted: the parts directory, beside the
  output on the shared file system, is the distributed run's cache.
"""
from __future__ import annotations

import datetime
import os
import shutil
import tempfile
from pathlib import Path

from jedi_repro.errors import JediError

# A barrier waits for the slowest rank's blocks: far longer than gloo's 30-minute default.
BARRIER_TIMEOUT = datetime.timedelta(hours=24)


def parts_dir_for(out: str | os.PathLike) -> Path:
    out = Path(out).resolve()
    return out.parent / f'.{out.name}.parts'


def extract_part(data_root, parts_dir: Path, rank: int, world_size: int, experts=None,
                 skip_bad_videos: bool = False, bf16: bool = False, channels_last='auto',
                 batch_size: int = 16, device: str | None = None, log=print) -> dict:
    """Compute this rank's share of the blocks into ``parts_dir``; finished parts are reused.

    Returns ``{'blocks': n of this rank, 'computed': k, 'cached': m}``.
    """
    from jedi_repro.experts.extract import (
        build_expert,
        channels_last_for,
        check_split,
        extract_block,
        load_plan,
    )
    data_root = Path(data_root).expanduser().resolve()
    datasets, specs = load_plan(data_root, experts)
    parts_dir.mkdir(parents=True, exist_ok=True)
    stats: dict = {}
    with tempfile.TemporaryDirectory(prefix='jedi-extract-') as tmp:
        splits = [check_split(ds, split, skip_bad_videos, Path(tmp))
                  for ds in datasets for split in ds.splits]
        blocks = [(spec, data) for spec in specs for data in splits]
        mine = blocks[rank::world_size]
        models: dict = {}
        for spec, data in mine:
            cl = channels_last_for(spec, channels_last)

            def model(spec=spec, cl=cl):
                if spec.name not in models:
                    models.clear()  # one expert in memory at a time
                    m = build_expert(spec.cfg, spec.checkpoint, channels_last=cl)
                    models[spec.name] = m.to(device) if device else m
                return models[spec.name]

            extract_block(spec, model, data, bf16=bf16, channels_last=cl, use_cache=True,
                          batch_size=batch_size, stats=stats, cache_root=parts_dir)
    if log:
        log(f'extract rank {rank}/{world_size}: {len(mine)} of {len(blocks)} blocks '
            f'({stats.get("computed", 0)} computed, {stats.get("cached", 0)} finished before) in {parts_dir}')
    return dict(blocks=len(mine), computed=stats.get('computed', 0), cached=stats.get('cached', 0))


def extract_distributed(data_root, out, expert_args: list[str] | None = None, overwrite: bool = False,
                        log=print, **options) -> dict | None:
    """One torchrun process's part of a distributed extraction; rank 0 merges and returns the result.

    ``expert_args`` are ``CONFIG[=CHECKPOINT]`` strings (each rank loads its own specs); ``options`` are
    ``skip_bad_videos``, ``bf16``, ``channels_last``, ``batch_size``, ``feature_dtype``. Other ranks
    return ``None``.
    """
    import torch
    import torch.distributed as dist

    from jedi_repro.experts.extract import extract, parse_expert_arg
    if 'RANK' not in os.environ:
        raise JediError('--launcher pytorch needs the environment torchrun sets: start it as '
                        '`torchrun --nproc_per_node N -m jedi_repro.cli extract ... --launcher pytorch`')
    out = Path(out).resolve()
    if out.exists() and not overwrite:
        raise JediError(f'feature store {out} already exists (pass --overwrite to replace it)')
    feature_dtype = options.pop('feature_dtype', 'float32')

    def specs():
        return [parse_expert_arg(e) for e in expert_args] if expert_args else None

    device = None
    if torch.cuda.is_available():
        device = f'cuda:{int(os.environ.get("LOCAL_RANK", 0))}'
        torch.cuda.set_device(device)
    rank, world = int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
    parts = parts_dir_for(out)
    # The process group is joined only after this rank's blocks: while it exists mmengine's samplers
    # would shard each block's dataloader by rank.
    extract_part(data_root, parts, rank, world, experts=specs(), device=device, log=log, **options)
    dist.init_process_group('gloo', timeout=BARRIER_TIMEOUT)
    try:
        dist.barrier()
        result = None
        if rank == 0:
            result = extract(data_root, out, experts=specs(), overwrite=overwrite, parts_dir=parts,
                             feature_dtype=feature_dtype, show_progress=False, log=log, **options)
            shutil.rmtree(parts, ignore_errors=True)
        dist.barrier()  # the other ranks exit once the store is in place
        return result
    finally:
        dist.destroy_process_group()
