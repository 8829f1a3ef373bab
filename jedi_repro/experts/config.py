"""Loading expert configs: MMAction2 configs plus a few ``jedi`` fields, resolved against a data root.

An expert config is an ordinary MMAction2 recognizer config (model, pipelines, dataloaders, schedule)
that also declares::

    data_root = 'data/...'     # a data root (`jedi data init` or `jedi synth`); `--data-root` replaces it
    dataset_name = '...'       # the dataset it is trained on (a directory of the data root)
    jedi = dict(feature_layer='cls_head.fc_cls')   # head Linear whose input is the penultimate feature

What depends on the data lives nowhere in the file: mmengine evaluates a config's variables when the file
is parsed, so a path built from ``data_root`` in a base config would ignore a child's ``data_root``.
Instead ``resolve_data`` derives it when the config is loaded, after the child config, ``--data-root``
and ``--cfg-options`` were applied (``load_expert_config``):

* every dataloader's ``ann_file`` and ``data_prefix``: from ``<data_root>/<dataset_name>/dataset.json``
  (train: its labelled list if it has one, else the train list; val; test, else val), or, without that
  file, MMAction2's names ``<data_root>/<dataset_name>/{train_labeled|train,val,test}.txt``;
* every dataloader's ``pipeline``: the top-level ``train_pipeline`` / ``val_pipeline`` /
  ``test_pipeline`` (so a child that redefines one changes its loader);
* ``model.cls_head.num_classes``: the number of classes in ``dataset.json`` (the config's own value
  stays when there is no ``dataset.json``).

So a child config of three lines re-points an expert at your data::

    _base_ = ['mm_configs/experts/r3d18_kinetics_like.py']
    data_root = 'data/mine'
    dataset_name = 'walks'

``jedi = dict(derive_paths=False)`` keeps a config's own loader paths (``--data-root`` then rewrites
their ``data_root`` prefix, ``set_data_root``).
"""
from __future__ import annotations

import os
from pathlib import Path

from jedi_repro.data.files import sha256_file  # noqa: F401  (re-exported; it lives in data/)
from jedi_repro.errors import JediError

_DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _replace_prefix(obj, old: str, new: str):
    """Recursively replace a leading ``old`` path prefix in every string of a config subtree."""
    if isinstance(obj, str):
        if obj == old or obj.startswith(old.rstrip('/') + '/'):
            return new.rstrip('/') + obj[len(old.rstrip('/')):]
        return obj
    if isinstance(obj, dict):
        return type(obj)({k: _replace_prefix(v, old, new) for k, v in obj.items()})
    if isinstance(obj, (list, tuple)):
        return type(obj)(_replace_prefix(v, old, new) for v in obj)
    return obj


def set_data_root(cfg, data_root: str | os.PathLike) -> None:
    """Point every dataloader of ``cfg`` at ``data_root`` (in place).

    Sets ``data_root`` and derives the paths again (``resolve_data``); for a config with
    ``jedi.derive_paths=False``, every path that starts with the config's declared ``data_root`` is
    rewritten instead.

    Args:
        cfg: an ``mmengine.Config`` that declares ``data_root``.
        data_root: the new root.

    Raises:
        JediError: the config declares no ``data_root``.
    """
    old = cfg.get('data_root')
    if not old:
        raise JediError(f'{cfg.filename}: the config declares no `data_root` variable, so --data-root '
                        'cannot be applied')
    new = str(Path(data_root).expanduser().resolve())
    if derives_paths(cfg):
        cfg.data_root = new
        resolve_data(cfg)
        return
    for key in _DATALOADERS:
        if cfg.get(key) is not None:
            cfg[key] = _replace_prefix(cfg[key], old, new)
    cfg.data_root = new


_LOADER_SPLITS = {'train_dataloader': 'train', 'val_dataloader': 'val', 'test_dataloader': 'test'}


def derives_paths(cfg) -> bool:
    """Whether ``resolve_data`` derives the loaders' paths (``jedi.derive_paths``, default True)."""
    return bool((cfg.get('jedi') or {}).get('derive_paths', True))


def data_paths(data_root: str | os.PathLike, dataset_name: str) -> dict:
    """Where an expert's data is: ``{'lists': {split: path}, 'video_prefix': path, 'classes': [...]|None}``.

    From ``<data_root>/<dataset_name>/dataset.json`` when it exists (train = its labelled list, else its
    train list; test falls back to val), else MMAction2's list names in that directory (train =
    ``train_labeled.txt`` if present, else ``train.txt``) and ``classes`` None.

    Raises:
        JediError: a ``dataset.json`` that cannot be read (file and field named).
    """
    from jedi_repro.experts.data_root import read_dataset

    ds_dir = Path(data_root).expanduser() / str(dataset_name)
    if (ds_dir / 'dataset.json').is_file():
        info = read_dataset(ds_dir)
        for split in ('train', 'val'):
            if split not in info.splits:
                raise JediError(f'{ds_dir / "dataset.json"}: `splits` has no {split!r} list')
        lists = dict(train=info.labeled_list or info.splits['train'], val=info.splits['val'],
                     test=info.splits.get('test', info.splits['val']))
        return dict(lists=lists, video_prefix=info.video_prefix, classes=info.classes)
    labeled = ds_dir / 'train_labeled.txt'
    lists = dict(train=labeled if labeled.is_file() else ds_dir / 'train.txt', val=ds_dir / 'val.txt',
                 test=ds_dir / 'test.txt')
    return dict(lists=lists, video_prefix=ds_dir, classes=None)


def resolve_data(cfg) -> None:
    """Fill every dataloader's paths and pipeline and the head's class count from ``data_root`` and
    ``dataset_name`` (in place; see the module docstring). A config without ``data_root`` is left alone."""
    root, name = cfg.get('data_root'), cfg.get('dataset_name')
    if not root or not name:
        return
    found = data_paths(root, name)
    for key, split in _LOADER_SPLITS.items():
        loader = cfg.get(key)
        if loader is None or loader.get('dataset') is None:
            continue
        if derives_paths(cfg):
            loader.dataset.ann_file = str(found['lists'][split])
            loader.dataset.data_prefix = dict(video=str(found['video_prefix']))
        pipeline = cfg.get(f'{split}_pipeline')
        if pipeline is not None:
            loader.dataset.pipeline = pipeline
    head = (cfg.get('model') or {}).get('cls_head')
    if found['classes'] is not None and head is not None and 'num_classes' in head:
        head.num_classes = len(found['classes'])


def set_max_epochs(cfg, max_epochs: int) -> None:
    """Shorten or lengthen the schedule, keeping epoch-based LR schedulers consistent."""
    cfg.train_cfg.max_epochs = int(max_epochs)
    for sched in cfg.get('param_scheduler') or []:
        if 'T_max' in sched:
            sched['T_max'] = int(max_epochs)
        if 'end' in sched and sched.get('by_epoch', True) and sched['end'] > max_epochs:
            sched['end'] = int(max_epochs)


def load_expert_config(path: str | os.PathLike, data_root: str | os.PathLike | None = None,
                       cfg_options: dict | None = None):
    """Read an expert config.

    Args:
        path: the config file.
        data_root: if given, replaces the config's ``data_root``.
        cfg_options: ``--cfg-options`` style overrides, merged after loading (``data_root=...`` and
            ``dataset_name=...`` among them take effect: the data is resolved afterwards).

    Returns:
        ``mmengine.Config``.

    Raises:
        JediError: missing file, a syntax error, or no ``model``/``dataset_name`` in it.
    """
    from mmengine.config import Config

    from jedi_repro.resources import locate
    path = locate(path)  # a relative mm_configs/... path also finds the shipped config
    if not path.is_file():
        raise JediError(f'expert config {path} does not exist')
    try:
        cfg = Config.fromfile(str(path))
    except Exception as exc:  # mmengine raises SyntaxError, KeyError, ... for broken configs
        raise JediError(f'cannot read expert config {path}: {exc}') from exc
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    for key in ('model', 'dataset_name'):
        if key not in cfg:
            raise JediError(f'expert config {path} has no `{key}`')
    if data_root is not None:
        set_data_root(cfg, data_root)
    else:
        resolve_data(cfg)
    return cfg


def expert_name(config_path: str | os.PathLike) -> str:
    """An expert's name: its config file's stem (e.g. ``x3d_hmdb_like``)."""
    return Path(config_path).stem


def feature_layer(cfg) -> str:
    """Dotted path of the head Linear whose input is the penultimate feature."""
    layer = (cfg.get('jedi') or {}).get('feature_layer')
    if layer:
        return layer
    return 'cls_head.fc2' if cfg.model.get('cls_head', {}).get('type') == 'X3DHead' else 'cls_head.fc_cls'
