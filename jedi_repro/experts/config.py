"""Loading expert configs: MMAction2 configs plus a few ``jedi`` fields, with the data root filled in.

An expert config is an ordinary MMAction2 recognizer config (model, pipelines, dataloaders, schedule)
that also declares::

    data_root = 'data/...'     # prefix of every dataloader path; `--data-root` replaces it
    dataset_name = '...'       # the dataset it is trained on (its feature-store name)
    jedi = dict(dataset=dataset_name, feature_layer='cls_head.fc_cls')   # head Linear whose input is
                                                                          # the penultimate feature
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

    Config variables are resolved when the file is parsed, so a later ``cfg.data_root = ...`` would not
    reach the dataloaders; instead every path that starts with the config's declared ``data_root`` is
    rewritten.

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
    for key in _DATALOADERS:
        if cfg.get(key) is not None:
            cfg[key] = _replace_prefix(cfg[key], old, new)
    cfg.data_root = new


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
        data_root: if given, replaces the config's ``data_root`` in every dataloader.
        cfg_options: ``--cfg-options`` style overrides, merged after loading.

    Returns:
        ``mmengine.Config``.

    Raises:
        JediError: missing file, a syntax error, or no ``model``/``dataset_name`` in it.
    """
    from mmengine.config import Config

    path = Path(path)
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
