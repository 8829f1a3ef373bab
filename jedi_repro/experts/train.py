"""Train one MMAction2 expert through mmengine's Runner, then export it for extraction.

The Runner trains on the config's train list (for the synthetic data root: the labelled subset
``train_labeled.txt``), validates every ``val_interval`` epochs and keeps the best checkpoint by val
top-1. That checkpoint is evaluated on the test list and exported as ``WORK_DIR/expert.pth``: a plain
``{'state_dict', 'meta'}`` file that loads with ``torch.load(weights_only=True)``, so it can be shared.

Pretrained backbones: a config with ``jedi.init_backbone = '<expert name>'`` starts from that expert's
backbone, as MMAction2's UCF101/HMDB51 configs fine-tune a Kinetics-400 checkpoint. The source's export
is reduced to its ``backbone.*`` tensors (``WORK_DIR/init_backbone.pth``), checked key by key and shape by
shape against this config's backbone, and loaded by mmengine's ``load_from`` after weight init; the new
head keeps its fresh initialisation (a head of another label space is never loaded).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from jedi_repro import workspace
from jedi_repro.atomic import atomic_path, write_text_atomic
from jedi_repro.data.files import load_expert_state  # noqa: F401  (re-exported; it lives in data/)
from jedi_repro.errors import JediError
from jedi_repro.experts.config import expert_name, load_expert_config, set_max_epochs
from jedi_repro.experts.data_root import read_annotations, video_problem

EXPORT_NAME = 'expert.pth'
INIT_BACKBONE_NAME = 'init_backbone.pth'


def default_work_dir(config_path: str | os.PathLike) -> Path:
    """Where ``jedi experts train CONFIG`` writes by default: ``$JEDI_HOME/work_dirs/experts/<name>``."""
    return workspace.work_dir(f'experts/{expert_name(config_path)}')


def _check_lists(cfg) -> None:
    """Every annotation line parses and every listed video decodes (first and last frame), before the
    Runner starts: a missing or truncated video was a DataLoader traceback that never named the file."""
    num_classes = cfg.model.cls_head.get('num_classes')
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader is None:
            continue
        ann = loader.dataset.get('ann_file')
        if not ann:
            continue
        if not Path(ann).is_file():
            root, name = cfg.get('data_root'), cfg.get('dataset_name')
            raise JediError(f'{key}: annotation list {ann} does not exist (data_root={root!r}, '
                            f'dataset_name={name!r}); a data root holds <dataset>/{{train,val[,test]}}.txt '
                            'and the dataset.json that `jedi data init ROOT` writes (README, "Your own '
                            'videos")')
        prefix = Path((loader.dataset.get('data_prefix') or {}).get('video', ''))
        for rel, _ in read_annotations(ann, num_classes):
            why = video_problem(prefix / rel)
            if why is not None:
                raise JediError(f'video {prefix / rel} (listed in {ann}, {key}) is unusable: {why}. Fix or '
                                'remove it from the list')


def _atomic_torch_save(obj, path: Path) -> None:
    import torch
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def init_backbone_source(cfg) -> str | None:
    """The expert whose backbone initialises this config's (``jedi.init_backbone``), or None."""
    return (cfg.get('jedi') or {}).get('init_backbone') or None


def source_config(config: str | os.PathLike, source: str) -> Path:
    """The config of expert ``source``: a sibling file ``<source>.py`` of ``config``."""
    return Path(config).resolve().parent / f'{source}.py'


def write_init_backbone(source_checkpoint: str | os.PathLike, model, out: str | os.PathLike) -> dict:
    """Reduce an exported expert to its backbone, check it fits ``model``, write it as a plain checkpoint.

    Args:
        source_checkpoint: the source expert's export (``expert.pth``) or an mmengine checkpoint.
        model: the recognizer to be initialised (its ``backbone`` must match key for key and in shape).
        out: where to write ``{'state_dict': {'backbone.*': tensor}, 'meta'}`` (for ``load_from``).

    Returns:
        ``{'checkpoint': str(source_checkpoint), 'sha256': sha256 of source_checkpoint, 'tensors': n}``.

    Raises:
        JediError: the source has no backbone tensors, or they do not fit the model's backbone (the file
            and the first mismatching keys are named).
    """
    from jedi_repro.experts.checkpoint import compare_state, describe_mismatch, shapes_of
    from jedi_repro.experts.config import sha256_file

    state, _ = load_expert_state(source_checkpoint)
    backbone = {k: v for k, v in state.items() if k.startswith('backbone.')}
    if not backbone:
        raise JediError(f'{source_checkpoint} holds no `backbone.*` tensors to initialise from')
    want = {f'backbone.{k}': tuple(v.shape) for k, v in model.backbone.state_dict().items()}
    diff = compare_state(want, shapes_of(backbone))
    if diff:
        raise JediError(describe_mismatch(
            diff, source_checkpoint, 'this expert\'s backbone (the architectures must be identical)', want))
    _atomic_torch_save(dict(state_dict=backbone, meta=dict(source=str(source_checkpoint))), Path(out))
    return dict(checkpoint=str(source_checkpoint), sha256=sha256_file(source_checkpoint),
                tensors=len(backbone))


def train_expert(config: str | os.PathLike, data_root: str | os.PathLike | None = None,
                 work_dir: str | os.PathLike | None = None, max_epochs: int | None = None,
                 cfg_options: dict | None = None, seed: int | None = None,
                 init_checkpoint: str | os.PathLike | None = None) -> dict:
    """Train an expert on its own dataset and export it.

    Args:
        config: expert config path (``mm_configs/experts/*.py`` or any MMAction2 recognizer config with
            ``data_root`` and ``dataset_name``).
        data_root: replaces the config's ``data_root`` (e.g. the ``jedi synth --out`` directory).
        work_dir: output directory; default ``default_work_dir(config)``.
        max_epochs: override the schedule length (LR scheduler adjusted to match).
        cfg_options: further config overrides.
        seed: overrides ``randomness.seed``.
        init_checkpoint: for a config with ``jedi.init_backbone``: the source expert's export to take the
            backbone from. Default: ``jedi.init_backbone_checkpoint`` of the config if set, else the
            source's default work dir (``default_work_dir(<source>.py) / expert.pth``).

    Returns:
        ``{'name', 'dataset', 'checkpoint', 'best_checkpoint', 'val': {...}, 'test': {...}, 'wall_s',
        'init_backbone'}`` (also written to ``WORK_DIR/expert.json``); ``init_backbone`` is None or
        ``{'source', 'checkpoint', 'sha256', 'tensors'}``.

    Raises:
        JediError: bad config, missing/malformed annotation lists, a missing or unfitting source backbone.
    """
    from mmengine.runner import load_checkpoint

    from jedi_repro.console import runner_class

    t0 = time.time()
    cfg = load_expert_config(config, data_root=data_root, cfg_options=cfg_options)
    if max_epochs is not None:
        set_max_epochs(cfg, max_epochs)
    if seed is not None:
        cfg.randomness = dict(cfg.get('randomness') or {}, seed=int(seed))
    _check_lists(cfg)
    work_dir = Path(work_dir) if work_dir else default_work_dir(config)
    work_dir.mkdir(parents=True, exist_ok=True)
    cfg.work_dir = str(work_dir)
    cfg.launcher = 'none'

    init = None
    source = init_backbone_source(cfg)
    if source:
        src = Path(init_checkpoint or cfg.jedi.get('init_backbone_checkpoint')
                   or default_work_dir(source_config(config, source)) / EXPORT_NAME)
        if not src.is_file():
            raise JediError(f'{config}: jedi.init_backbone={source!r}, but its checkpoint {src} does not '
                            f'exist; train {source} first (`jedi experts train '
                            f'{source_config(config, source)}`) or pass --cfg-options '
                            'jedi.init_backbone_checkpoint=PATH')
        cfg.load_from = str(work_dir / INIT_BACKBONE_NAME)
        cfg.resume = False

    runner = runner_class(f'expert {expert_name(config)}').from_cfg(cfg)  # quiet console unless `jedi -v`
    if source:
        # Checked and written before training; the Runner loads it after its weight init (`load_from`).
        init = dict(source=source, **write_init_backbone(src, runner.model, cfg.load_from))
    runner.train()
    best = sorted(work_dir.glob('best_*.pth'), key=os.path.getmtime)
    best_ckpt = best[-1] if best else Path(runner.work_dir) / f'epoch_{runner.epoch}.pth'
    if best:
        load_checkpoint(runner.model, str(best_ckpt), map_location='cpu', logger='current')
    val_metrics = runner.val_loop.run() if runner.val_loop is not None else {}
    test_metrics = runner.test() if cfg.get('test_dataloader') is not None else {}

    name = expert_name(config)
    meta = dict(name=name, dataset=cfg.dataset_name, config=str(Path(config).resolve()),
                config_text=cfg.pretty_text, num_classes=int(cfg.model.cls_head.num_classes),
                best_checkpoint=str(best_ckpt))
    state = {k: v.detach().cpu() for k, v in runner.model.state_dict().items()}
    export = work_dir / EXPORT_NAME
    _atomic_torch_save(dict(state_dict=state, meta=meta), export)
    result = dict(name=name, dataset=cfg.dataset_name, checkpoint=str(export), best_checkpoint=str(best_ckpt),
                  val={k: float(v) for k, v in val_metrics.items()},
                  test={k: float(v) for k, v in test_metrics.items()},
                  epochs=int(cfg.train_cfg.max_epochs), init_backbone=init, wall_s=round(time.time() - t0, 2))
    write_text_atomic(work_dir / 'expert.json', json.dumps(result, indent=1) + '\n')
    return result
