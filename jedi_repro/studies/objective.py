"""One trial: train its configuration once per seed, track it in MLflow, return the mean objective."""
from __future__ import annotations

import contextlib
import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jedi_repro import aggregates, workspace
from jedi_repro.engine import reuse
from jedi_repro.errors import JediError
from jedi_repro.studies import recovery
from jedi_repro.studies.space import suggest
from jedi_repro.studies.spec import StudySpec
from jedi_repro.tracking import provenance
from jedi_repro.tracking.inputs import log_feature_store_input
from jedi_repro.tracking.runs import (
    aggregate_seeds,
    end_run,
    log_metrics,
    log_params,
    log_run_files,
    log_seed_result,
    metrics_from_json,
    set_tags,
    start_run,
)

DEFAULT_TRAIN_FN = 'jedi_repro.engine.train:train'


@dataclass
class TrialContext:
    """What every trial of one worker shares.

    Args:
        spec: the study spec.
        client: a RetryingClient.
        experiment_id: the study's MLflow experiment.
        parent_run_id: the study's parent run.
        tags: base tags (study, git sha, features hash, versions).
        train_fn: ``train(cfg, features=, work_dir=, cfg_options=, extra_hooks=, seed=, resume=) -> metrics``.
        reuse: adopt finished seed runs of the same key (``jedi_repro.engine.reuse``) instead of training.
    """
    spec: StudySpec
    client: Any
    experiment_id: str
    parent_run_id: str
    tags: dict
    train_fn: Callable
    reuse: bool = True


def resolve_callable(ref: str) -> Callable:
    """``'package.module:function'`` -> the function."""
    module, _, attr = ref.partition(':')
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise JediError(f'train function {ref!r} cannot be imported ({exc})') from exc
    if not callable(fn):
        raise JediError(f'train function {ref!r} is not callable')
    return fn


OBJECTIVE_TAG = 'jedi.objective'
SUMMARY_ATTR = 'jedi.val_mean_primary'  # {role: mean over seeds}: the runner's one line per finished trial
RUN_NAME_ATTR = 'jedi.run_name'  # the trial run's name (decoded searched values), for the same line
ROLE_ORDER = ('expert', 'student', 'teacher')
RUN_NAME_MAX = 90  # long enough for a few searched values, short enough for MLflow's runs table


def run_name(trial_number: int, values: Mapping[str, Any], seed: int | None = None) -> str:
    """``trial-0003 fusion=logits gamma=0.4 [seed=1]``: the run names say what varies.

    A key is shown by its last component (the component before ``type`` for ``...fusion.type``); the
    values follow the order of the spec's space; the name is cut at ``RUN_NAME_MAX`` characters.
    """
    def short(key: str) -> str:
        parts = key.split('.')
        return parts[-2] if parts[-1] == 'type' and len(parts) > 1 else parts[-1]

    def fmt(v) -> str:
        if isinstance(v, float):
            return f'{v:g}'
        return ','.join(map(str, v)) if isinstance(v, list) else str(v)

    words = [f'trial-{trial_number:04d}', *(f'{short(k)}={fmt(v)}' for k, v in values.items())]
    name = ' '.join(words)
    if len(name) > RUN_NAME_MAX:
        name = name[:RUN_NAME_MAX - 3] + '...'
    return name if seed is None else f'{name} seed={seed}'


def is_single_point(spec: StudySpec) -> bool:
    """A grid of one point: nothing is searched (a baseline), so its runs are named after the study."""
    from jedi_repro.studies.space import grid_points
    return spec.is_grid and len(grid_points(spec.space)) == 1


def trial_run_name(spec: StudySpec, trial_number: int, values: Mapping[str, Any],
                   seed: int | None = None) -> str:
    """:func:`run_name`, or for a one-point study (``student_baseline``) the study's name: its runs must
    not read like the ablation point that happens to share the value (``trial-0000 gamma=0``)."""
    if is_single_point(spec):
        return spec.name if seed is None else f'{spec.name} seed={seed}'
    return run_name(trial_number, values, seed)


def objective_value(metrics: Mapping[str, Any], metric: str) -> float:
    """Read ``{dataset|mean}/{role}/{metric}`` from the VALIDATION block of a metrics.json dict.

    Trials are chosen, pruned and compared on validation only; the test metrics of the same runs are
    reported, never optimised.

    Raises:
        JediError: the key is missing or not a finite number.
    """
    scope, role, name = metric.split('/')
    val = metrics.get('val')
    if not isinstance(val, Mapping):
        raise JediError(f'objective "{metric}": the trained metrics have no "val" block (the validation '
                        'metrics of the tested checkpoints, which every choice is made on)')
    block = val.get('mean') if scope == 'mean' else val.get('datasets', {}).get(scope)
    try:
        value = float(block[role][name])
    except (KeyError, TypeError, ValueError) as exc:
        raise JediError(f'objective "{metric}" is not in the validation metrics (datasets: '
                        f'{sorted(val.get("datasets", {}))})') from exc
    if not math.isfinite(value):
        raise JediError(f'objective "{metric}" is {value} (not finite)')
    return value


def run_trial(trial, ctx: TrialContext) -> list[float]:
    """Train ``trial``'s configuration for every seed; MLflow runs end FINISHED/KILLED(pruned)/FAILED.

    Returns:
        The objective values (mean over seeds), in the spec's objective order.
    """
    spec, client = ctx.spec, ctx.client
    cfg_values = suggest(trial, spec.space)
    tags = {**ctx.tags, 'jedi.trial': trial.number}
    system_attrs = trial.study._storage.get_trial(trial._trial_id).system_attrs
    if 'failed_trial' in system_attrs:
        tags['jedi.retry_of'] = system_attrs['failed_trial']
    name = trial_run_name(spec, trial.number, cfg_values)
    trial_run = start_run(client, ctx.experiment_id, 'trial', name, tags, parent_run_id=ctx.parent_run_id)
    trial.set_user_attr(recovery.RUN_ATTR, trial_run)
    trial.set_user_attr(RUN_NAME_ATTR, name)
    log_feature_store_input(client, trial_run, spec.features)
    with ended_by_outcome(client, trial_run):
        log_params(client, trial_run, cfg_values)
        per_seed, values = [], []
        for idx, seed in enumerate(spec.seeds):
            metrics = _run_seed(trial, ctx, trial_run, cfg_values, idx, seed)
            if idx == 0:
                config = provenance.flatten(metrics.get('config') or {})
                log_params(client, trial_run, {k: v for k, v in config.items()
                                               if k not in cfg_values and not provenance.is_seed_key(k)})
                set_tags(client, trial_run,
                         {'jedi.config_hash': provenance.config_hash(metrics.get('config') or {})})
            per_seed.append(metrics_from_json(metrics))
            values.append([objective_value(metrics, o.metric) for o in spec.objectives])
        aggregated = aggregate_seeds(per_seed)
        log_metrics(client, trial_run, aggregated)
        # the same mean as the parent run's best/..., the report's and the console's (jedi_repro.aggregates)
        means = [aggregates.mean(v[i] for v in values) for i in range(len(spec.objectives))]
        # The trial's value is its run's val/{objective} (the mean over seeds): a tag names the key rather
        # than a second metric outside the {split}/{dataset}/{role}/{metric} scheme.
        set_tags(client, trial_run, {OBJECTIVE_TAG: ','.join(f'val/{o.metric}' for o in spec.objectives)})
        key = f'mean/{{}}/{aggregates.PRIMARY}'
        trial.set_user_attr(SUMMARY_ATTR, {r: aggregates.mean(m[f'val/{key.format(r)}'] for m in per_seed)
                                           for r in ROLE_ORDER
                                           if all(f'val/{key.format(r)}' in m for m in per_seed)})
    return means


def _run_seed(trial, ctx: TrialContext, trial_run: str, cfg_values: dict, idx: int, seed: int) -> dict:

    from jedi_repro.studies.pruning_hook import OptunaPruningHook
    from jedi_repro.tracking.hook import MLflowMetricsHook

    spec, client = ctx.spec, ctx.client
    tags = {**ctx.tags, 'jedi.trial': trial.number, 'jedi.seed': seed}
    name = trial_run_name(spec, trial.number, cfg_values, seed)
    run_id = start_run(client, ctx.experiment_id, 'seed', name, tags, parent_run_id=trial_run)
    hooks = [MLflowMetricsHook(client, run_id)]
    if len(spec.objectives) == 1:  # Optuna takes intermediate values of single-objective studies only
        # per-epoch validation values: the pruner's input, and optuna-dashboard's learning curves even
        # without a pruner (the NopPruner never prunes)
        hooks.append(OptunaPruningHook(trial, spec.objectives[0].metric,
                                       step_offset=idx * OptunaPruningHook.STEP_STRIDE))
    # a retry of a killed or interrupted attempt resumes the first attempt's work dir (the same result as
    # an uninterrupted run; a fresh dir, or one of another configuration, starts afresh)
    root = recovery.attempt_root(trial.study, trial)
    work_dir = workspace.work_dir(f'{spec.name}/trial_{root:04d}/seed_{seed}')
    work_dir.mkdir(parents=True, exist_ok=True)
    set_tags(client, run_id, {'jedi.work_dir': str(work_dir)})
    cfg_options = {**spec.cfg_options, **cfg_values, 'randomness.seed': seed}
    with ended_by_outcome(client, run_id):
        key = found = None
        if ctx.reuse:  # a finished run of the same config, store, seed and code is adopted, not retrained
            key = reuse.key_for(str(spec.base_config), str(spec.features), work_dir, cfg_options, seed)
            found = reuse.lookup(key)
        if found:
            metrics = reuse.adopt(*found, work_dir)
            curves = reuse.link_mlflow_run(client, run_id, found[0])
            _report_reused_curve(trial, spec, curves, idx)
        else:
            metrics = ctx.train_fn(str(spec.base_config), features=str(spec.features), work_dir=str(work_dir),
                                   cfg_options=cfg_options, extra_hooks=hooks, seed=seed, resume='auto')
        log_seed_result(client, run_id, metrics, metrics.get('config'), spec.features)
        log_run_files(client, run_id, work_dir, metrics)
    if key is not None and not found:
        reuse.record(key, work_dir, metrics, run_id)
    return metrics


def _report_reused_curve(trial, spec: StudySpec, curves: dict, idx: int) -> None:
    """Give Optuna the reused run's per-epoch objective (dashboard curves); no pruning: it is done."""
    from jedi_repro.studies.pruning_hook import OptunaPruningHook
    if len(spec.objectives) != 1:
        return
    for step, value in curves.get(f'val_epoch/{spec.objectives[0].metric}', []):
        trial.report(float(value), idx * OptunaPruningHook.STEP_STRIDE + int(step))


@contextlib.contextmanager
def ended_by_outcome(client, run_id: str):
    """End an MLflow run by how the block ends: FINISHED, KILLED (pruned or interrupted) or FAILED."""
    import optuna

    try:
        yield
    except optuna.TrialPruned:
        set_tags(client, run_id, {'jedi.state': 'PRUNED'})
        end_run(client, run_id, 'KILLED')
        raise
    except KeyboardInterrupt:
        set_tags(client, run_id, {'jedi.state': 'INTERRUPTED'})
        end_run(client, run_id, 'KILLED')
        raise
    except BaseException as exc:
        set_tags(client, run_id, {'jedi.state': 'FAILED', 'jedi.error': str(exc)[:4000]})
        end_run(client, run_id, 'FAILED')
        raise
    set_tags(client, run_id, {'jedi.state': 'COMPLETE'})
    end_run(client, run_id, 'FINISHED')
