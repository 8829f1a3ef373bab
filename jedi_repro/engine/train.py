"""``train()``: one JEDI run on a feature store, the single function ``jedi train`` and studies call.

It loads the config, applies and checks overrides, fills in the feature store (shapes, classes and heads
come from it), builds the dataloaders from ``cfg.data``, runs mmengine's ``Runner`` (validation every
epoch; a best checkpoint per ``default_hooks.checkpoint.save_best`` key, one for the students and one for
the teachers; ``ValPlateauHook`` stops at a validation plateau), tests each role at its own best
checkpoint (val for datasets without a test split) and writes ``WORK_DIR/metrics.json`` (DESIGN.md
contract): the test metrics, the ``val`` metrics of the same checkpoints, which checkpoint each role
was tested at (``selection``) and whether the run converged (``convergence``). Every choice is made on
validation; test metrics are only reported.
"""
from __future__ import annotations

import copy
import hashlib
import inspect
import json
import logging
import shutil
import time
import uuid
from pathlib import Path

from jedi_repro.atomic import write_json_atomic  # noqa: F401 - the one atomic JSON writer
from jedi_repro.engine.hooks.resume_hook import LAST_CHECKPOINT
from jedi_repro.engine.metrics.jedi_metric import METRIC_NAMES, ROLES
from jedi_repro.engine.untrained import exclude_untrained, mark_untrained, untrained_roles
from jedi_repro.errors import JediError
from jedi_repro.resources import locate

DATA_KEYS = {'labeled_fraction', 'unlabeled_datasets', 'labeled_batch_size', 'unlabeled_batch_size',
             'pool_mix', 'eval_batch_size', 'iters_per_epoch'}


def _register_all() -> None:
    import jedi_repro.data.multi_dataset  # noqa: F401
    import jedi_repro.engine  # noqa: F401
    import jedi_repro.models  # noqa: F401


def load_config(cfg):
    """A path or ``mmengine.Config`` -> a private ``Config`` copy (``JediError`` on a bad file)."""
    from mmengine.config import Config
    if isinstance(cfg, Config):
        return copy.deepcopy(cfg)
    if isinstance(cfg, dict):
        return Config(copy.deepcopy(cfg))
    path = locate(cfg)  # a relative mm_configs/... path also finds the shipped config (jedi_repro.resources)
    if not path.is_file():
        raise JediError(f'config file {path} does not exist')
    try:
        return Config.fromfile(str(path))
    except Exception as exc:  # mmengine raises many types for a broken config file
        raise JediError(f'config file {path} could not be loaded: {type(exc).__name__}: {exc}') from None


def _component_class(node: dict):
    """The registered class a ``type=`` dict builds, or None if unknown here."""
    from jedi_repro.engine.config_check import resolve_type
    from jedi_repro.registry import FUSIONS, HOOKS, KD_LOSSES, METRICS, MODELS
    t = node.get('type')
    if not isinstance(t, str):
        return t if inspect.isclass(t) else None
    for reg in (MODELS, FUSIONS, KD_LOSSES, HOOKS, METRICS):
        cls = reg.get(t)
        if cls is not None:
            return cls
    return resolve_type(t)  # mmengine's loops, optimizer wrappers, optimizers, ... (optim_wrapper.clip_grad)


def _accepts(cls, key: str) -> bool:
    """Whether ``key`` is an argument ``cls`` really uses (``**kwargs`` followed: engine/config_check.py)."""
    from jedi_repro.engine.config_check import accepted_args
    allowed = accepted_args(cls)
    return allowed is None or key in allowed


def apply_cfg_options(cfg, options: dict) -> None:
    """Merge ``{'a.b.c': value}`` overrides into ``cfg``, refusing keys the config does not know.

    A key must exist in the config, or be a constructor argument of the registered component whose
    ``type=`` dict it lands in (e.g. ``model.fusion.proj_dim`` once the fusion is ``mean``). Overrides
    apply in order, so ``model.fusion.type=mean model.fusion.proj_dim=64`` works.
    """
    for key, value in options.items():
        parts = key.split('.')
        node = cfg._cfg_dict  # the ConfigDict (a dict) behind the Config
        for depth, part in enumerate(parts):
            here = '.'.join(parts[:depth + 1])
            last = depth == len(parts) - 1
            if isinstance(node, (list, tuple)):
                if not part.isdigit() or int(part) >= len(node):
                    raise JediError(f'--cfg-options {key}: {here!r} is not a valid index '
                                    f'(the list has {len(node)} items)')
                if not last:
                    node = node[int(part)]
                continue
            if not isinstance(node, dict):
                raise JediError(f'--cfg-options {key}: {".".join(parts[:depth])!r} is a value, not a section')
            if part not in node:
                cls = _component_class(node)
                if cls is None or not _accepts(cls, part):
                    known = ', '.join(sorted(str(k) for k in node)) or '(none)'
                    raise JediError(f'--cfg-options {key}: unknown config key {here!r} (known here: {known})')
                if not last:  # an argument of the component given as a section, e.g. optim_wrapper.clip_grad
                    break
            if not last:
                node = node[part]
        cfg.merge_from_dict({key: value})


def check_config(cfg) -> None:
    """Refuse unknown keys in a config (JEDI parts here, components and top level in
    :mod:`jedi_repro.engine.config_check`), naming the key."""
    from jedi_repro.engine.config_check import check_components, check_top_level, check_values
    from jedi_repro.models.jedi_model import JEDIModel
    from jedi_repro.registry import FUSIONS, KD_LOSSES
    for section in ('model', 'data', 'train_cfg', 'optim_wrapper'):
        if section not in cfg:
            raise JediError(f'config lacks the {section!r} section '
                            '(base it on mm_configs/jedi/jedi_default.py)')
    check_values(cfg)
    model = cfg.model
    if model.get('type') == 'JEDIModel':
        for k in model:
            if k != 'type' and not _accepts(JEDIModel, k):
                raise JediError(f'unknown config key model.{k}')
        for part, reg in (('fusion', FUSIONS), ('kd_loss', KD_LOSSES)):
            sub = model.get(part)
            if sub is None:
                continue
            reg.import_from_location()
            cls = reg.get(sub.get('type', ''))
            if cls is None:
                raise JediError(f'model.{part}.type={sub.get("type")!r} is unknown; registered: '
                                f'{sorted(reg.module_dict)}')
            for k in sub:
                if k != 'type' and not _accepts(cls, k):
                    raise JediError(f'unknown config key model.{part}.{k} (for {part} type {sub["type"]!r})')
    check_top_level(cfg)
    check_components(cfg)
    unknown = set(cfg.data) - DATA_KEYS
    if unknown:
        raise JediError(f'unknown config key(s) {sorted("data." + k for k in unknown)} '
                        f'(known: {sorted(DATA_KEYS)})')
    from jedi_repro.engine.precision import check_precision
    check_precision(cfg.get('precision', 'fp32'))
    if model.get('type') == 'JEDIModel':
        from jedi_repro.models.kd_pool import check_kd_pool
        check_kd_pool(model.get('kd_pool', 'all'))  # a study space's values are checked at spec load
    epochs = cfg.train_cfg.get('max_epochs', 1)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        # no validation epoch means no checkpoint to choose and nothing to report
        raise JediError(f'train_cfg.max_epochs={epochs!r} must be an integer >= 1')


def _check_data_against_store(data, store) -> None:
    """Fail before the Runner exists on data options that do not fit the store."""
    from jedi_repro.data.multi_dataset import resolve_fractions
    resolve_fractions(data.get('labeled_fraction', 1.0), store.dataset_names)
    pool = data.get('unlabeled_datasets')
    pool = [pool] if isinstance(pool, str) else (pool or [])
    unknown = [d for d in pool if d not in store.dataset_names]
    if unknown:
        raise JediError(f'data.unlabeled_datasets names unknown dataset(s) {unknown} '
                        f'(the store has {store.dataset_names})')


def build_dataloaders(cfg, store_path: str, seed: int) -> None:
    """Fill ``train/val/test_dataloader`` from ``cfg.data`` (see ``jedi_repro.data.multi_dataset``)."""
    data = cfg.data
    common = dict(batch_size=1, num_workers=0, persistent_workers=False,
                  collate_fn=dict(type='jedi_unwrap_collate'))
    cfg.train_dataloader = dict(
        **common, sampler=dict(type='JEDIEpochSampler'),
        dataset=dict(type='JEDITrainBatches', store=store_path,
                     labeled_fraction=data.get('labeled_fraction', 1.0),
                     unlabeled_datasets=data.get('unlabeled_datasets'),
                     labeled_batch_size=data.get('labeled_batch_size', 32),
                     unlabeled_batch_size=data.get('unlabeled_batch_size', 128),
                     pool_mix=data.get('pool_mix', 'balanced'), seed=seed,
                     iters_per_epoch=data.get('iters_per_epoch')))
    for split, fallback in (('val', None), ('test', 'val')):
        cfg[f'{split}_dataloader'] = dict(
            **common, sampler=dict(type='JEDISequentialSampler'),
            dataset=dict(type='JEDIEvalBatches', store=store_path, split=split, fallback=fallback,
                         batch_size=data.get('eval_batch_size', 1024)))


def metrics_to_contract(flat: dict, dataset_names, seed: int, config: dict, wall_s: float, **extra) -> dict:
    """``{dataset}/{role}/{metric}`` keys -> the nested metrics.json dict of DESIGN.md."""
    out = {'datasets': {d: {r: {} for r in ROLES} for d in dataset_names}, 'mean': {r: {} for r in ROLES}}
    for key, v in flat.items():
        parts = key.split('/')
        if len(parts) != 3 or parts[1] not in ROLES:
            continue
        ds, role, metric = parts
        target = out['mean'] if ds == 'mean' else out['datasets'].get(ds)
        if target is not None:
            target[role][metric] = float(v)
    out.update(seed=int(seed), config=config, wall_s=float(wall_s), **extra)
    return out


def save_best_keys(cfg) -> list[str]:
    """The validation keys ``default_hooks.checkpoint.save_best`` keeps a best checkpoint for."""
    keys = ((cfg.get('default_hooks') or {}).get('checkpoint') or {}).get('save_best') or []
    return [keys] if isinstance(keys, str) else list(keys)


def role_keys(keys: list[str]) -> dict[str, str | None]:
    """The selection key of every role: the first ``save_best`` key naming the role, else the first key.

    The expert does not change with training; it is reported with the students.
    """
    def of(role):
        return next((k for k in keys if k.split('/')[1:2] == [role]), keys[0] if keys else None)
    student = of('student')
    return {'expert': student, 'student': student, 'teacher': of('teacher')}


def check_metric_keys(cfg, dataset_names) -> None:
    """Refuse selection and plateau keys that no validation epoch will produce (before training)."""
    hooks = cfg.get('default_hooks') or {}
    named = [('default_hooks.checkpoint.save_best', k) for k in save_best_keys(cfg)]
    plateau = hooks.get('plateau') or {}
    monitors = plateau.get('monitors') or []
    named += [('default_hooks.plateau.monitors', k) for k in ([monitors] if isinstance(monitors, str)
                                                                 else monitors)]
    for field, key in named:
        parts = str(key).split('/')
        if (len(parts) != 3 or parts[0] not in ('mean', *dataset_names) or parts[1] not in ROLES
                or parts[2] not in METRIC_NAMES):
            raise JediError(f'{field}: {key!r} is not a validation metric; use {{dataset|mean}}/{{role}}/'
                            f'{{metric}} with a dataset in {list(dataset_names)}, a role in {list(ROLES)}, '
                            f'a metric in {list(METRIC_NAMES)} (e.g. mean/student/primary)')


def _plateau_hook(runner, cfg):
    """The run's ``ValPlateauHook``; a record-only one on the selection keys if the config has none."""
    from jedi_repro.engine.hooks.val_plateau_hook import ValPlateauHook
    found = [h for h in runner.hooks if isinstance(h, ValPlateauHook)]
    if found:
        return found[0]
    hook = ValPlateauHook(monitors=save_best_keys(cfg) or ['mean/student/primary'], stop=False)
    runner.register_hook(hook)
    return hook


def evaluate_selected_checkpoints(runner, plateau, cfg) -> tuple[dict, dict, dict]:
    """Test every role at the checkpoint its own validation metric selected.

    Students (and the experts) are tested at the best checkpoint of their ``save_best`` key, teachers at
    the best checkpoint of theirs; the validation metrics reported for a role are those recorded at its
    checkpoint's epoch. Returns ``(test, val, selection)``: flat ``{dataset|mean}/{role}/{metric}`` dicts
    and ``{role: {'key', 'epoch', 'checkpoint'}}``.
    """
    keys = save_best_keys(cfg)
    hub = runner.message_hub
    paths = {k: hub.get_info('best_ckpt' if len(keys) == 1 else f'best_ckpt_{k}') for k in keys}
    by_role = role_keys(keys)
    role_paths = {}
    for role in ROLES:
        path = paths.get(by_role[role])
        role_paths[role] = path if path and Path(path).is_file() else None
    tested: dict = {}
    test_flat, val_flat, selection = {}, {}, {}
    # a role without a best checkpoint is tested on the final weights: before any checkpoint is loaded
    for role in sorted(ROLES, key=lambda r: role_paths[r] is not None):
        path = role_paths[role]
        if path not in tested:
            if path:
                ckpt = runner.load_checkpoint(path)
                epoch = int(ckpt.get('meta', {}).get('epoch', runner.epoch))
            else:
                runner.logger.log(logging.WARNING, f'no best checkpoint for {by_role[role]}: testing the '
                                  'final weights')
                epoch = int(runner.epoch)
            tested[path] = (runner.test(), epoch)
        flat, epoch = tested[path]
        test_flat.update({k: v for k, v in flat.items() if k.split('/')[1:2] == [role]})
        val_flat.update({k: v for k, v in plateau.metrics_at(epoch).items() if k.split('/')[1:2] == [role]})
        selection[role] = dict(key=by_role[role], epoch=epoch, checkpoint=Path(path).name if path else None)
    return test_flat, val_flat, selection


def prepare_config(cfg, features, work_dir, cfg_options=None, seed=None, check_values: bool = True):
    """Load, override, check and fill a config; returns ``(Config, FeatureStore, seed)``.

    Nothing is written: every check that can be made before a Runner exists is made here, so bad input
    fails before the work dir is created (``check_values=False`` skips the store's NaN/label scan, for
    callers that already made it).
    """
    from jedi_repro.data.feature_store import FeatureStore
    from jedi_repro.engine.config_check import check_effective, check_work_dir
    from jedi_repro.engine.precision import apply_precision
    from jedi_repro.engine.threads import check_threads
    _register_all()
    if Path(work_dir).exists() and not Path(work_dir).is_dir():
        raise JediError(f'work dir {work_dir} exists and is not a directory')
    cfg = load_config(cfg)
    if cfg_options:
        apply_cfg_options(cfg, dict(cfg_options))
    if 'data' not in cfg:
        cfg.data = {}
    try:
        check_config(cfg)
    except JediError as exc:  # name the file the key came from (or was checked in)
        origin = f'config {cfg.filename}' if getattr(cfg, 'filename', None) else 'config'
        raise JediError(f'{origin}{" with --cfg-options" if cfg_options else ""}: {exc}') from None
    apply_precision(cfg)
    check_threads(cfg.get('threads', 'auto'))
    # every block checked against the manifest (re-hashed only where its stamp changed): the run's
    # features_hash, reuse key and MLflow digest then describe the bytes it reads
    store = FeatureStore.open(features, check_values=check_values, verify=True)
    _check_data_against_store(cfg.data, store)
    if cfg.model.get('type') == 'JEDIModel':
        from jedi_repro.models.kd_pool import check_pool_covers_students
        check_pool_covers_students(cfg.model.get('kd_pool', 'all'), store.dataset_names,
                                   cfg.data.get('unlabeled_datasets'),
                                   cfg.data.get('unlabeled_batch_size', 128))
    check_metric_keys(cfg, store.dataset_names)
    check_effective(cfg, store)
    check_work_dir(work_dir, store.path)
    exclude_untrained(cfg, untrained_roles(cfg))
    if seed is None:
        seed = (cfg.get('randomness') or {}).get('seed')
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise JediError(f'seed {seed!r} must be an integer >= 0 (--seed, randomness.seed, a study\'s seeds)')
    seed = 0 if seed is None else int(seed)
    cfg.randomness = dict(cfg.get('randomness') or {}, seed=seed)
    store_path = str(Path(store.path).resolve())
    cfg.model.store = store_path
    build_dataloaders(cfg, store_path, seed)
    cfg.work_dir = str(Path(work_dir).resolve())
    preflight(cfg, store)
    return cfg, store, seed


def preflight(cfg, store) -> None:
    """Build the model, the training batches and the optimizer once, before anything is written.

    Values that only their constructors check (``model.gamma=-1``, ``optim_wrapper.optimizer.lr=-1``,
    ``optim_wrapper.clip_grad`` that is not a dict, a fusion argument of the wrong type) fail here with
    the section they came from, not after the Runner
    has created the work dir.
    """
    import torch
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import OPTIMIZERS, DefaultScope

    from jedi_repro.registry import DATASETS, MODELS
    model_cfg = dict(cfg.model, store=store)
    optim_cfg = dict(cfg.optim_wrapper.optimizer, params=[torch.nn.Parameter(torch.zeros(1))])
    for section, build in (('model', lambda: MODELS.build(model_cfg)),
                           ('data', lambda: DATASETS.build(cfg.train_dataloader.dataset)),
                           ('optim_wrapper.optimizer', lambda: OPTIMIZERS.build(optim_cfg)),
                           # the wrapper with its optimizer (clip_grad, accumulative_counts, lr, ...)
                           ('optim_wrapper', lambda: build_optim_wrapper(
                               torch.nn.Linear(1, 1), copy.deepcopy(cfg.optim_wrapper)))):
        try:
            if section.startswith('optim_wrapper'):  # wrappers live in the config's scope (bf16: mmaction)
                with DefaultScope.overwrite_default_scope(cfg.get('default_scope') or 'mmaction'):
                    build()
            else:
                build()
        except JediError:
            raise
        except KeyError as exc:
            raise JediError(f'config section {section}: {exc}') from None
        except (TypeError, ValueError, AssertionError) as exc:
            raise JediError(f'config section {section}: {type(exc).__name__}: {exc}') from None


def config_record(cfg) -> dict:
    """The resolved config as ``metrics.json`` records it (``config``): without work dir, run name and
    ``threads`` (speed only; the count used is in ``runtime``)."""
    return {k: v for k, v in cfg.to_dict().items() if k not in ('work_dir', 'experiment_name', 'threads')}


RUN_FINGERPRINT = 'run_config.json'


def config_fingerprint(record: dict) -> str:
    """sha256 of the resolved config (seed included): what a checkpoint may be resumed under."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


def resume_from(cfg, fingerprint: str, strict: bool = True) -> Path | None:
    """Point ``cfg`` at the work dir's ``last.pth`` (None: nothing to resume, the run starts afresh).

    A ``last.pth`` written under another configuration or seed is refused (``strict``) or discarded.
    """
    from jedi_repro.engine.hooks.resume_hook import last_checkpoint
    hooks = [*(cfg.get('default_hooks') or {}).values(), *(cfg.get('custom_hooks') or [])]
    if not any(isinstance(h, dict) and h.get('type') == 'ExactResumeHook' and h.get('save_last', True)
               for h in hooks):
        raise JediError('cannot resume: the config keeps no last checkpoint (add default_hooks.resume='
                        "dict(type='ExactResumeHook'), as mm_configs/_base_/jedi_runtime.py does)")
    last = last_checkpoint(cfg.work_dir)
    if last is None:
        return None
    record = Path(cfg.work_dir) / RUN_FINGERPRINT
    recorded = json.loads(record.read_text()).get('fingerprint') if record.is_file() else None
    if recorded != fingerprint:
        if strict:
            raise JediError(f'cannot resume {cfg.work_dir}: its {last.name} was trained with another '
                            'configuration or seed (use the same config, --cfg-options and --seed, or '
                            'another --work-dir)')
        last.unlink()
        return None
    cfg.resume, cfg.load_from = True, str(last)
    return last


def _apply_runtime(runner, cfg) -> dict:
    """Set torch's thread count for this run (``threads``, engine/threads.py) and say how the run computes:
    ``metrics.json``'s ``runtime`` (threads, why, effective precision; not part of the config record)."""
    from jedi_repro.engine.precision import effective_precision
    from jedi_repro.engine.threads import apply_threads, step_flop
    ds = cfg.train_dataloader.dataset
    model = getattr(runner.model, 'module', runner.model)  # DDP wraps it
    rows = int(ds.labeled_batch_size) * len(model.dataset_names) + int(ds.unlabeled_batch_size)
    choice = apply_threads(cfg.get('threads', 'auto'), step_flop(model, rows))
    runtime = dict(threads=choice.threads, threads_reason=choice.reason, precision=effective_precision(cfg))
    runner.logger.info(f'torch threads {choice.threads} ({choice.reason}); precision {runtime["precision"]}')
    return runtime


def _close_run_logger(runner) -> None:
    """Close the run's log-file handlers (a study runs hundreds of trials in one process)."""
    for handler in list(runner.logger.handlers):
        if isinstance(handler, logging.FileHandler):
            try:
                handler.close()
            except OSError:  # its last lines on a full disk: the run's own error says so, not this one
                pass
            runner.logger.removeHandler(handler)


def train(cfg, features, work_dir, cfg_options=None, extra_hooks=None, seed=None, resume=False,
          launcher=None) -> dict:
    """Train JEDI (or the student baseline) on a feature store; write and return ``metrics.json``.

    Args:
        cfg: config path, ``mmengine.Config`` or dict (e.g. ``mm_configs/jedi/jedi_default.py``).
        features: feature store directory.
        work_dir: run directory (mmengine logs, best checkpoint, ``metrics.json``).
        cfg_options: ``{'model.gamma': 0.0, ...}`` overrides; unknown keys raise ``JediError``.
        extra_hooks: ``mmengine.hooks.Hook`` instances (their ``after_val_epoch`` gets the per-epoch
            metrics ``{dataset}/{role}/{metric}`` and ``mean/{role}/{metric}``).
        seed: overrides ``randomness.seed`` (seeds torch, the labelled subset and the batch order).
        resume: continue from ``WORK_DIR/last.pth`` if it exists (weights, optimizer, best checkpoints,
            validation history; the result equals an uninterrupted run's); else start afresh. ``True``
            refuses a ``last.pth`` of another configuration, ``'auto'`` (studies) starts afresh instead.
        launcher: ``'pytorch'`` under torchrun (overrides the config's ``launcher``; see
            :mod:`jedi_repro.engine.distributed`); only rank 0 writes ``metrics.json``.

    Returns:
        The metrics.json dict: ``datasets``, ``mean`` (test), ``val`` (the same shape: validation metrics
        of the tested checkpoints), ``seed``, ``config``, ``wall_s`` (+ ``eval_split``, ``features_hash``,
        ``best_checkpoint`` (the students'), ``selection``, ``convergence``).
    """
    import torch
    from mmengine.dist import barrier, is_main_process

    from jedi_repro.console import runner_class
    from jedi_repro.engine.distributed import configure_launcher
    Runner = runner_class('train')  # noqa: N806 - mmengine's Runner; quiet on the console unless `jedi -v`
    t0 = time.time()
    cfg, store, seed = prepare_config(cfg, features, work_dir, cfg_options, seed)
    resolved = config_record(cfg)
    fingerprint = config_fingerprint(resolved)
    resumed = resume_from(cfg, fingerprint, strict=resume is True) if resume else None
    # Denormal floats (e.g. gradients of very confident softmaxes) make CPU kernels several times slower;
    # flushing them to zero changes values below 1e-38 only. Process-wide, as torch offers it.
    torch.set_flush_denormal(bool(cfg.get('flush_denormal', True)))
    configure_launcher(cfg, launcher)
    created = not Path(cfg.work_dir).exists()
    Path(cfg.work_dir).mkdir(parents=True, exist_ok=True)
    if not resumed:  # a fresh start: an older last.pth must not be resumed under this fingerprint
        Path(cfg.work_dir, LAST_CHECKPOINT).unlink(missing_ok=True)
    write_json_atomic(Path(cfg.work_dir) / RUN_FINGERPRINT, {'fingerprint': fingerprint})
    # mmengine names the run's MessageHub and MMLogger '{experiment_name}_{timestamp}' and reuses existing
    # instances of that name: two runs started in the same second would share best-checkpoint state.
    cfg.experiment_name = f'{cfg.get("experiment_name") or "jedi"}_{uuid.uuid4().hex[:8]}'
    try:
        runner = Runner.from_cfg(cfg)
    except Exception as exc:
        if created:  # nothing of this run is worth keeping: leave no half-written work dir behind
            shutil.rmtree(cfg.work_dir, ignore_errors=True)
        if isinstance(exc, JediError):
            raise
        raise JediError(f'could not build the run from the config: {type(exc).__name__}: {exc}') from None
    if resumed:
        runner.logger.info(f'resuming from {resumed}')
    runtime = _apply_runtime(runner, cfg)
    try:
        for hook in extra_hooks or []:
            runner.register_hook(hook)
        plateau = _plateau_hook(runner, cfg)
        runner.train()
        barrier()  # rank 0 has written the best checkpoints the other ranks load next
        test_flat, val_flat, selection = evaluate_selected_checkpoints(runner, plateau, cfg)
        test_set = runner.test_dataloader.dataset
    finally:
        _close_run_logger(runner)
    metrics = metrics_to_contract(test_flat, store.dataset_names, seed, resolved, time.time() - t0,
                                  eval_split=dict(test_set.splits), features_hash=store.content_hash(),
                                  best_checkpoint=selection['student']['checkpoint'], selection=selection,
                                  convergence=plateau.summary(cfg.train_cfg.get('max_epochs')),
                                  runtime=runtime)
    metrics['val'] = {k: v for k, v in metrics_to_contract(val_flat, store.dataset_names, seed, {}, 0).items()
                      if k in ('datasets', 'mean')}
    mark_untrained(metrics, untrained_roles(cfg))
    from jedi_repro.engine.config_check import effective_values
    metrics['effective'] = effective_values(cfg, store, seed)  # what the run used where it differs
    store.verify()  # a block changed during the run fails it here (stat only when nothing changed)
    if is_main_process():
        write_json_atomic(Path(cfg.work_dir) / 'metrics.json', metrics)
    return metrics
