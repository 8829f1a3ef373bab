"""Every configuration key takes effect or is refused: what ``train()`` checks before anything is written.

* **Component keys** (:func:`check_components`): every ``type=`` dict outside ``model``/``data`` (hooks,
  loops, optimizer wrapper and optimizer, evaluators, log processor, visualizer) must name a registered
  type, and each of its keys must be an argument that the class really uses. Classes whose constructor
  swallows ``**kwargs`` are resolved: kwargs forwarded to ``super().__init__`` count the parent's
  arguments; kwargs that go nowhere useful are listed in :data:`KWARGS_USED` (mmengine's
  ``CheckpointHook`` stores them and passes them to ``runner.save_checkpoint``, which already receives
  all it takes, so none is valid: a misspelt ``save_bests`` would be ignored, or crash after epoch 1).
  The same check runs on a config file and on ``--cfg-options``, so a child config's
  ``train_cfg = dict(max_epoch=2)`` is refused like ``--cfg-options train_cfg.max_epoch=2``.
* **Top-level keys** (:func:`check_top_level`): a key the Runner does not read, the JEDI harness does
  not read (``data``, ``precision``, ...) and the shipped runtime base does not define is refused.
* **Values that cannot take effect** (:func:`check_effective`): a KD weight with an empty unlabelled
  pool, all loss weights zero or students without any gradient, a ``bool`` given for a number, a
  dataset with one class (its accuracy is 100% by construction).
* **Effective values** (:func:`effective_values`): values the run uses that differ from what was
  requested (the labelled fraction is rounded per class to at least one sample), for metrics.json.
"""
from __future__ import annotations

import inspect
import re
from collections.abc import Mapping

from jedi_repro.errors import JediError

# ``**kwargs`` a class accepts that really take effect. CheckpointHook (mmengine 0.10) keeps them as
# ``self.args`` and passes them to ``runner.save_checkpoint``, whose arguments it already sets: none.
KWARGS_USED: dict[str, tuple[str, ...]] = {'CheckpointHook': ()}

# Top-level keys the harness reads beyond ``Runner.__init__``'s arguments.
HARNESS_TOP_KEYS = {'model', 'data', 'precision', 'flush_denormal', 'custom_imports', '_base_',
                    'default_scope', 'experiment_name', 'resume', 'load_from', 'work_dir'}
# Sections the JEDI checks of ``train.check_config`` own (their own registries and rules).
_OWN_SECTIONS = ('model', 'data', 'train_dataloader', 'val_dataloader', 'test_dataloader')
_NUMBER_ANN = re.compile(r'^(Optional\[)?(float|int)\b')


def _registries():
    import mmaction.registry as reg
    return [reg.HOOKS, reg.LOOPS, reg.OPTIM_WRAPPERS, reg.OPTIMIZERS, reg.PARAM_SCHEDULERS, reg.METRICS,
            reg.EVALUATOR, reg.LOG_PROCESSORS, reg.VISUALIZERS, reg.VISBACKENDS, reg.MODELS, reg.DATASETS,
            reg.DATA_SAMPLERS]


def resolve_type(type_name, registries=None):
    """The class a ``type=`` value builds in mmaction's (and so mmengine's) registries, or None."""
    if inspect.isclass(type_name):
        return type_name
    if not isinstance(type_name, str):
        return None
    for reg in registries or _registries():
        try:
            cls = reg.get(type_name)
        except Exception:  # noqa: BLE001 - a registry may try to import a scope that is not installed
            cls = None
        if cls is not None:
            return cls
    return None


def accepted_args(cls) -> set[str] | None:
    """The constructor arguments of ``cls`` that take effect; None when they cannot be known."""
    names: set[str] = set()
    for klass in inspect.getmro(cls):
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        if init is object.__init__:
            return names
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):
            return None
        names |= {n for n, p in params.items() if n != 'self' and p.kind not in (p.VAR_POSITIONAL,
                                                                                 p.VAR_KEYWORD)}
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return names
        if klass.__name__ in KWARGS_USED:
            return names | set(KWARGS_USED[klass.__name__])
        try:
            src = inspect.getsource(init)
        except (OSError, TypeError):
            return None
        if not re.search(r'super\([^)]*\)\.__init__\([^)]*\*\*kwargs', src):
            return None  # kwargs go somewhere we cannot follow: do not guess
    return names


def _number_args(cls) -> set[str]:
    """Arguments annotated ``float``/``int``: a ``bool`` given for them is a mistake, not a number."""
    out = set()
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return out
    for name, p in params.items():
        ann = p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, '__name__', '')
        if isinstance(ann, str) and _NUMBER_ANN.match(ann) and 'bool' not in ann:
            out.add(name)
    return out


def check_component(node: Mapping, where: str, registries=None) -> None:
    """Refuse an unknown ``type`` and keys of ``node`` its class does not use (``where``: its path)."""
    t = node.get('type')
    cls = resolve_type(t, registries)
    if cls is None:
        raise JediError(f'{where}.type={t!r} is not a registered type (misspelt, or its module is not in '
                        'custom_imports)')
    allowed = accepted_args(cls)
    name = getattr(cls, '__name__', str(t))
    numbers = _number_args(cls)
    for key, value in node.items():
        if key == 'type':
            continue
        if allowed is not None and key not in allowed:
            raise JediError(f'unknown config key {where}.{key}: {name} does not use it (it takes '
                            f'{", ".join(sorted(allowed)) or "no arguments"}); a key that would be '
                            'ignored is refused')
        if key in numbers and isinstance(value, bool):
            raise JediError(f'{where}.{key}={value!r}: a number is expected, not a boolean')


def check_components(cfg) -> None:
    """:func:`check_component` on every ``type=`` dict outside the JEDI-owned sections."""
    regs = _registries()

    def walk(node, where):
        if isinstance(node, Mapping):
            if 'type' in node:
                check_component(node, where, regs)
            for k, v in node.items():
                if k != 'type':
                    walk(v, f'{where}.{k}')
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                walk(v, f'{where}.{i}')

    for key in cfg.keys():
        if key not in _OWN_SECTIONS:
            walk(cfg[key], key)


def _runtime_base_keys() -> set[str]:
    from mmengine.config import Config

    from jedi_repro.resources import locate
    path = locate('mm_configs/_base_/jedi_runtime.py')
    try:
        return set(Config.fromfile(str(path)).keys()) if path.is_file() else set()
    except Exception:  # noqa: BLE001 - a broken shipped base is reported where it is loaded
        return set()


def check_top_level(cfg, origin: str = 'config') -> None:
    """Refuse top-level keys nothing reads (the Runner, the harness, the shipped runtime base)."""
    from mmengine.runner import Runner
    known = set(inspect.signature(Runner.__init__).parameters) | HARNESS_TOP_KEYS
    unknown = [k for k in cfg.keys() if k not in known]
    if unknown:
        unknown = [k for k in unknown if k not in _runtime_base_keys()]
    if unknown:
        raise JediError(f'{origin}: unknown top-level config key(s) {sorted(unknown)}: nothing reads them '
                        f'(the Runner takes {", ".join(sorted(known - HARNESS_TOP_KEYS - {"self"}))}; the '
                        f'harness adds {", ".join(sorted(HARNESS_TOP_KEYS))})')


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_values(cfg) -> None:
    """Values whose mistakes the components accept silently or crash on mid-run (hostile-input round of
    issue 20): sections that are not sections, seeds, intervals, switches given as text, a learning rate
    of 0, a KD stop epoch at or before the start, an empty checkpoint selection."""
    for section in ('model', 'data', 'train_cfg', 'optim_wrapper', 'default_hooks', 'randomness'):
        if section in cfg and cfg[section] is not None and not isinstance(cfg[section], Mapping):
            raise JediError(f'config key {section}={cfg[section]!r} must be a section (a dict), not a value')
    seed = (cfg.get('randomness') or {}).get('seed')
    if seed is not None and (not _is_int(seed) or seed < 0):
        raise JediError(f'randomness.seed={seed!r} must be an integer >= 0')
    val_interval = (cfg.get('train_cfg') or {}).get('val_interval', 1)
    if not _is_int(val_interval) or val_interval < 1:
        raise JediError(f'train_cfg.val_interval={val_interval!r} must be an integer >= 1 (checkpoints are '
                        'chosen on validation epochs)')
    flush = cfg.get('flush_denormal', True)
    if not isinstance(flush, bool):
        raise JediError(f'config key flush_denormal={flush!r} must be True or False')
    model = cfg.get('model') or {}
    adj = model.get('adjustment') or {}
    if isinstance(adj, Mapping):
        if 'enabled' in adj and not isinstance(adj['enabled'], bool):
            raise JediError(f'model.adjustment.enabled={adj["enabled"]!r} must be True or False')
        hd = adj.get('hidden_dim')
        if hd is not None and (not _is_int(hd) or hd < 1):
            raise JediError(f'model.adjustment.hidden_dim={hd!r} must be an integer >= 1, or None (= the '
                            'expert\'s dim)')
    lr = ((cfg.get('optim_wrapper') or {}).get('optimizer') or {}).get('lr')
    if isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr == 0:
        raise JediError('optim_wrapper.optimizer.lr=0: no parameter would change, yet the students and '
                        'teachers '
                        'would be reported as trained; give a positive learning rate')
    for i, h in enumerate(cfg.get('custom_hooks') or []):
        if isinstance(h, Mapping) and h.get('type') == 'JEDIDistillHook':
            stop = h.get('stop_epoch')
            bad = isinstance(stop, bool) or not isinstance(stop, (int, float)) or stop <= 0
            if stop is not None and bad:
                raise JediError(f'custom_hooks.{i}.stop_epoch={stop!r}: distillation would be off from the '
                                'first iteration while the record says gamma > 0; give a positive epoch, or '
                                'None (never stop)')
    ckpt = (cfg.get('default_hooks') or {}).get('checkpoint')
    if isinstance(ckpt, Mapping) and 'save_best' in ckpt and not ckpt['save_best']:
        raise JediError(f'default_hooks.checkpoint.save_best={ckpt["save_best"]!r}: no checkpoint would be '
                        'chosen on validation; name the metric(s) to select on, e.g. mean/student/primary')


def _active_gamma(cfg) -> tuple[bool, float]:
    """(distillation switched on, the gamma it starts from)."""
    hooks = [h for h in (cfg.get('custom_hooks') or []) if isinstance(h, Mapping)
             and h.get('type') == 'JEDIDistillHook']
    gamma = (cfg.get('model') or {}).get('gamma', 0.4)
    if hooks and hooks[0].get('gamma') is not None:
        gamma = hooks[0]['gamma']
    return bool(hooks), gamma


def check_effective(cfg, store) -> None:
    """Refuse settings that cannot take effect on ``store`` (before anything is written)."""
    model, data = cfg.get('model') or {}, cfg.get('data') or {}
    for key in ('alpha', 'beta', 'gamma', 'teacher_dropout'):
        if isinstance(model.get(key), bool):
            raise JediError(f'model.{key}={model[key]!r}: a number is expected, not a boolean')
    lf = data.get('labeled_fraction', 1.0)
    for v in (lf.values() if isinstance(lf, Mapping) else [lf]):
        if isinstance(v, bool):
            raise JediError(f'data.labeled_fraction={lf!r}: a number is expected, not a boolean')
    for key in ('labeled_batch_size', 'unlabeled_batch_size', 'eval_batch_size'):
        v = data.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise JediError(f'data.{key}={v!r} must be an integer')
    ebs = data.get('eval_batch_size', 1024)
    if ebs < 1:
        raise JediError(f'data.eval_batch_size={ebs} must be >= 1 (samples per evaluation batch)')
    distill, gamma = _active_gamma(cfg)
    pool = data.get('unlabeled_datasets')
    pool_empty = data.get('unlabeled_batch_size', 128) == 0 or (pool is not None and len(pool) == 0)
    if distill and isinstance(gamma, (int, float)) and gamma > 0 and pool_empty:
        why = ('data.unlabeled_batch_size=0' if data.get('unlabeled_batch_size', 128) == 0
               else 'data.unlabeled_datasets is empty')
        raise JediError(f'model.gamma={gamma} cannot take effect: {why}, so the unlabelled pool the KD terms '
                        'are computed on is empty and the KD loss would be 0 at every step while the record '
                        'said gamma > 0; give the pool samples, or set model.gamma=0')
    alpha, beta = model.get('alpha', 1.0), model.get('beta', 1.0)
    kd_on = distill and isinstance(gamma, (int, float)) and gamma > 0
    if model.get('type') == 'JEDIModel' and isinstance(alpha, (int, float)) and alpha == 0 and not kd_on:
        what = ('model.alpha=0, model.beta=0 and model.gamma=0' if beta == 0 and distill else
                'model.alpha=0 without distillation (no JEDIDistillHook or gamma=0)')
        raise JediError(f'{what}: the students would get no gradient and be reported as trained; '
                        'give model.alpha or model.gamma a positive weight')
    for ds in store.dataset_names:
        n_cls = len(store.dataset(ds)['classes'])
        if n_cls < 2:
            raise JediError(f'dataset {ds!r} of feature store {store.path} has {n_cls} class: every accuracy '
                            'on it is 100% by construction and would inflate every mean; train on datasets '
                            'with at least 2 classes')


def check_work_dir(work_dir, store_path) -> None:
    """A run's files never go into its feature store, nor a store into a run (``--overwrite`` removes a
    finished work dir, and a store rewritten with ``--overwrite`` would take the run with it)."""
    from pathlib import Path
    wd, st = Path(work_dir).resolve(), Path(store_path).resolve()
    if wd == st or st in wd.parents or wd in st.parents:
        raise JediError(f'--work-dir {work_dir} and the feature store {store_path} overlap; a run\'s files '
                        'must not go into the store, nor the store into a run: choose another --work-dir')


def effective_values(cfg, store, seed: int) -> dict:
    """``{'data.labeled_fraction': {dataset: fraction used}}``: labelled train samples used over the
    samples the store's mask allows (the stratified subset keeps at least one sample per class)."""
    import numpy as np

    from jedi_repro.data.multi_dataset import labeled_indices
    data = cfg.get('data') or {}
    idx = labeled_indices(store, data.get('labeled_fraction', 1.0), seed)
    out = {}
    for name, chosen in zip(store.dataset_names, idx):
        n = int(np.count_nonzero(np.asarray(store.labeled_mask(name))))
        out[name] = round(len(chosen) / n, 6) if n else 0.0
    return {'data.labeled_fraction': out}
