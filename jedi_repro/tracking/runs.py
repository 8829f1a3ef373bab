"""MLflow run management with explicit run ids (no fluent ``mlflow.start_run`` global state).

Schema (docs/ARCHITECTURE.md): experiment = study name (``jedi-train`` for a lone ``jedi train``); one
parent run per study (``jedi.role=study``), a child per trial (``jedi.role=trial``), a grandchild per seed
(``jedi.role=seed``), linked by ``mlflow.parentRunId``. Metric keys ``{split}/{dataset}/{role}/{metric}``.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from jedi_repro import processes, workspace
from jedi_repro.tracking import notes, provenance
from jedi_repro.tracking.client import RetryingClient
from jedi_repro.tracking.inputs import log_feature_store_input

PARAM_MAX_LEN = 6000  # MLflow 3's limit on one param value
BATCH_PARAMS = 100
BATCH_METRICS = 1000
TRAIN_EXPERIMENT = 'jedi-train'
# roles a run did not train (comma-separated; jedi_repro/engine/untrained.py): no metric key for them
T_UNTRAINED = 'jedi.untrained'


#: MLflow 3 opens an experiment on the page its kind names (tag ``mlflow.experimentKind``; the UI's
#: ``ExperimentKind`` enum): without it the UI infers GenAI and opens on trace charts. Every jedi experiment
#: trains models, so it opens on its runs.
EXPERIMENT_KIND_TAG = 'mlflow.experimentKind'
EXPERIMENT_KIND = 'custom_model_development'


def get_or_create_experiment(client: RetryingClient, name: str) -> str:
    """The id of experiment ``name``, created with an explicit artifact location if missing, and marked a
    model-training experiment (:data:`EXPERIMENT_KIND`), so that the MLflow UI opens it on its runs.

    Two workers may race to create it; the loser reads the winner's experiment. An experiment created by
    an older version (no kind) is marked when it is next used.
    """
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
            client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        return exp.experiment_id
    # a tracking server places artifacts in its own store (--artifacts-destination, served to every
    # machine); a local database keeps them in the workspace
    remote = str(getattr(client, 'tracking_uri', '')).startswith(('http://', 'https://'))
    location = None if remote else (workspace.mlflow_artifacts_dir() / name).as_uri()
    try:
        return client.create_experiment(name, artifact_location=location,
                                        tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
    except Exception:  # noqa: BLE001 - RESOURCE_ALREADY_EXISTS from a concurrent creator
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def base_tags(study: str, features: str | Path | None, git_sha: str | None = None) -> dict[str, str]:
    """Tags every run carries: study, git sha, feature-store hash and per-dataset metric, package versions."""
    tags = {'jedi.study': study, 'jedi.git_sha': git_sha or provenance.git_sha(),
            'jedi.cpu': provenance.cpu_kind()}
    tags['jedi.features_hash'] = provenance.features_hash(features) if features else 'unknown'
    if features and tags['jedi.features_hash'] != 'unknown':
        tags['jedi.dataset_metrics'] = json.dumps(provenance.dataset_metrics(features))
        sources = provenance.expert_sources(features)
        if sources:  # where published experts' weights come from (jedi experts import)
            tags['jedi.expert_sources'] = json.dumps(sources, sort_keys=True)
    for pkg, ver in provenance.package_versions().items():
        tags[f'jedi.version.{pkg}'] = ver
    return tags


def start_run(client: RetryingClient, experiment_id: str, role: str, name: str,
              tags: Mapping[str, Any], parent_run_id: str | None = None) -> str:
    """Create a RUNNING run and return its id.

    Args:
        client: the tracking client.
        experiment_id: where the run lives.
        role: ``study``, ``trial`` or ``seed`` (tag ``jedi.role``).
        name: the run name shown in the UI.
        tags: extra tags (stringified).
        parent_run_id: sets ``mlflow.parentRunId`` (nesting in the UI).
    """
    all_tags = {k: str(v) for k, v in tags.items()}
    all_tags.update(owner_tags())
    all_tags['jedi.role'] = role
    if parent_run_id:
        all_tags['mlflow.parentRunId'] = parent_run_id
    run = client.create_run(experiment_id, tags=all_tags, run_name=name)
    return run.info.run_id


def owner_tags() -> dict[str, str]:
    """``jedi.host``/``jedi.pid``/``jedi.pid_start``: the process running a run (``close_orphaned_runs``)."""
    ident = processes.identity()
    return {'jedi.host': ident['host'], 'jedi.pid': str(ident['pid']), 'jedi.pid_start': ident['start']}


def reopen_run(client: RetryingClient, run_id: str) -> None:
    """Set a run RUNNING again, owned by this process (a resumed training, a re-run study).

    The end state an earlier process left (``jedi.state=KILLED`` and its ``jedi.error``, set when the run
    was found orphaned) is removed: the run's status says how it ends this time.
    """
    client.update_run(run_id, status='RUNNING')
    stale = [k for k in STATE_TAGS if k in client.get_run(run_id).data.tags]
    for key in stale:
        client.delete_tag(run_id, key)
    set_tags(client, run_id, owner_tags())


#: the tags that record how a run ended, cleared when it is reopened
STATE_TAGS = ('jedi.state', 'jedi.error')


def close_orphaned_runs(client: RetryingClient) -> list[str]:
    """End KILLED every RUNNING run whose recorded process on this host is gone; return their ids.

    A SIGKILLed ``jedi train`` or study worker cannot close its runs; every stage that opens the tracking
    store calls this first, so nothing stays RUNNING for ever. Runs owned by other hosts are left alone
    (their owners cannot be checked from here); runs of a live process are never touched.
    """
    closed = []
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return closed
    for run in client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'",
                                  max_results=50000):
        t = run.data.tags
        if processes.is_gone(t.get('jedi.host'), t.get('jedi.pid'), t.get('jedi.pid_start')):
            set_tags(client, run.info.run_id, {'jedi.state': 'KILLED',
                                               'jedi.error': 'its process ended without closing the run'})
            end_run(client, run.info.run_id, 'KILLED')
            closed.append(run.info.run_id)
    return closed


def end_run(client: RetryingClient, run_id: str, status: str = 'FINISHED') -> None:
    """Terminate a run as ``FINISHED``, ``FAILED`` or ``KILLED`` (also turns a finished run FAILED)."""
    client.set_terminated(run_id, status=status)


def eval_splits(metrics: Mapping[str, Any]) -> tuple[dict[str, str], str]:
    """``({dataset: split}, the mean's split)``: what ``train`` evaluated each dataset on (``eval_split``)
    and the split its ``mean`` block stands for (the datasets' common split, ``test`` when they differ)."""
    splits = metrics.get('eval_split')
    splits = dict(splits) if isinstance(splits, Mapping) else {}
    common = set(splits.values())
    return splits, common.pop() if len(common) == 1 else 'test'


def metrics_from_json(metrics: Mapping[str, Any], split: str | None = None) -> dict[str, float]:
    """Flatten a ``metrics.json`` dict to ``{split}/{dataset|mean}/{role}/{metric}`` floats.

    The final metrics (``datasets``/``mean``) and, when present, the ``val`` block (validation metrics of
    the same checkpoints, under ``val/``).

    Args:
        metrics: the ``train`` result (DESIGN.md contract).
        split: the prefix of the final metrics; default per dataset from ``metrics['eval_split']``
            (``{dataset: split}``, what ``train`` evaluated: test if present, else val), else ``test``.
            ``mean`` gets the datasets' common split (``test`` when they differ).
    """
    splits, common_split = eval_splits(metrics)
    mean_split = split or common_split
    out = {}
    # the means first: on SQLite a run page lists its metrics in the order they were first logged
    blocks = [('mean', metrics['mean'], mean_split)] if 'mean' in metrics else []
    val = metrics.get('val') if split is None else None
    if isinstance(val, Mapping) and 'mean' in val:
        blocks.append(('mean', val['mean'], 'val'))
    blocks += [(name, roles, split or splits.get(name, 'test'))
               for name, roles in metrics.get('datasets', {}).items()]
    if isinstance(val, Mapping):
        blocks += [(name, roles, 'val') for name, roles in val.get('datasets', {}).items()]
    for name, roles, prefix in blocks:
        for role, values in roles.items():
            if not isinstance(values, Mapping):  # null: a role the run did not train
                continue
            for metric, value in values.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    out[f'{prefix}/{name}/{role}/{metric}'] = float(value)
    return out


def log_metrics(client: RetryingClient, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
    """Log many metrics at one step in batches (one write per batch, fewer lock waits)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    items = [Metric(k, float(v), now, int(step)) for k, v in metrics.items()]
    for i in range(0, len(items), BATCH_METRICS):
        client.log_batch(run_id, metrics=items[i:i + BATCH_METRICS])


def log_params(client: RetryingClient, run_id: str, params: Mapping[str, Any]) -> None:
    """Log params (stringified, truncated to MLflow's limit) in batches."""
    from mlflow.entities import Param

    items = [Param(k, _param_value(v)) for k, v in params.items()]
    for i in range(0, len(items), BATCH_PARAMS):
        client.log_batch(run_id, params=items[i:i + BATCH_PARAMS])


def set_tags(client: RetryingClient, run_id: str, tags: Mapping[str, Any]) -> None:
    from mlflow.entities import RunTag

    client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def _param_value(value: Any) -> str:
    # sorted keys: a config read back from metrics.json (a reused run) logs the same text as the live one
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= PARAM_MAX_LEN else text[:PARAM_MAX_LEN - 3] + '...'


def config_text(cfg: Any) -> str:
    """The resolved config as Python source (``mmengine.Config.pretty_text``), for the artifact."""
    if isinstance(cfg, (str, Path)) and Path(cfg).is_file():
        return Path(cfg).read_text()
    try:
        from mmengine.config import Config
        if not isinstance(cfg, Config):
            cfg = Config(dict(cfg))
        return cfg.pretty_text
    except Exception:  # noqa: BLE001 - pretty_text can choke on exotic values; JSON always works
        return 'cfg = ' + json.dumps(_to_dict(cfg), indent=2, default=str) + '\n'


def _to_dict(cfg: Any) -> dict:
    if hasattr(cfg, 'to_dict'):
        return cfg.to_dict()
    return dict(cfg) if isinstance(cfg, Mapping) else {}


def resolved_config(metrics: Mapping[str, Any], cfg: Any = None) -> dict:
    """The resolved config as a plain dict: ``metrics['config']`` if present, else ``cfg``."""
    if isinstance(metrics.get('config'), Mapping):
        return dict(metrics['config'])
    if isinstance(cfg, (str, Path)):
        from mmengine.config import Config
        return Config.fromfile(str(cfg)).to_dict()
    return _to_dict(cfg) if cfg is not None else {}


def log_seed_result(client: RetryingClient, run_id: str, metrics: Mapping[str, Any], cfg: Any,
                    features: str | Path | None = None) -> None:
    """Final metrics, flattened params, hashes and artifacts (``config.py``, ``metrics.json``) of a run."""
    config = resolved_config(metrics, cfg)
    log_params(client, run_id, provenance.flatten(config))
    if isinstance(metrics.get('effective'), Mapping):  # values used where they differ from the requested
        log_params(client, run_id, {f'effective.{k}': v
                                    for k, v in provenance.flatten(metrics['effective']).items()})
    # at the last epoch trained (the per-epoch curves are val_epoch/..., tracking/hook.py)
    log_metrics(client, run_id, metrics_from_json(metrics), step=_last_epoch(metrics, config))
    tags = {'jedi.config_hash': provenance.config_hash(config)}
    if metrics.get('untrained'):
        tags[T_UNTRAINED] = ','.join(metrics['untrained'])
    if features is not None:
        tags['jedi.dataset_metrics'] = json.dumps(provenance.dataset_metrics(features, metrics))
    if 'wall_s' in metrics:
        log_metrics(client, run_id, {'wall_s': float(metrics['wall_s'])})
    runtime = metrics.get('runtime') or {}
    tags.update({f'jedi.{k}': runtime[k] for k in ('threads', 'precision') if k in runtime})
    conv_tags, conv_metrics = convergence_record(metrics)
    tags.update(conv_tags)
    if conv_metrics:
        log_metrics(client, run_id, conv_metrics)
    set_tags(client, run_id, tags)
    notes.set_block(client, run_id, 'headline', headline(metrics))
    log_feature_store_input(client, run_id, features)
    client.log_text(run_id, config_text(cfg if cfg is not None else config), 'config.py')
    client.log_dict(run_id, _jsonable(metrics), 'metrics.json')


def headline(metrics: Mapping[str, Any]) -> str:
    """The top of a seed run's MLflow page (its description): one line that the UI shows whole before
    its "Show more" (each role's tested figure and its validation figure, in percent), then what was
    chosen on validation per role, and whether validation had reached a plateau. Every figure is the mean
    of each dataset's primary metric; rounded for reading only, the metrics below keep every digit."""
    from jedi_repro.aggregates import PRIMARY, pct

    final = eval_splits(metrics)[1]
    val_mean = (metrics.get('val') or {}).get('mean') or (metrics.get('mean') if final == 'val' else {})
    sel = metrics.get('selection') if isinstance(metrics.get('selection'), Mapping) else {}
    rows, lead = [], []
    for role, values in (metrics.get('mean') or {}).items():
        if not isinstance(values, Mapping) or PRIMARY not in values:  # an untrained role
            continue
        epoch = 'frozen' if role == 'expert' else (sel.get(role) or {}).get('epoch', '')
        val = (val_mean.get(role) or {}).get(PRIMARY) if isinstance(val_mean, Mapping) else None
        cells = [pct(v) if isinstance(v, (int, float)) else '' for v in (val, values[PRIMARY])]
        rows.append(f'| {role} | {epoch} | {cells[0]} | {cells[1]} |')
        lead.append(f'{role} **{cells[1]}**' + (f' (val {cells[0]})' if cells[0] and final != 'val' else ''))
    if not rows:
        return ''
    lines = [f'**{final.capitalize()}, %:** ' + ' · '.join(lead) + " (mean of each dataset's primary metric)",
             '', f'Chosen on validation, {final} reported (`mean/{{role}}/primary`, %):', '',
             f'| role | epoch tested | val | {final} |', '|:---|---:|---:|---:|', *rows, '']
    conv = metrics.get('convergence') if isinstance(metrics.get('convergence'), Mapping) else {}
    if conv.get('converged') is True:
        lines += [f'Validation plateau reached; stopped at epoch {conv.get("last_epoch")}.', '']
    elif conv.get('converged') is False:
        lines += [f'**Not converged**: stopped at epoch {conv.get("last_epoch")} (max_epochs) while '
                  'validation was still improving.', '']
    lines.append('Per-epoch curves: `val_epoch/...` (step = epoch). Artifacts: `config.py`, `metrics.json`, '
                 '`logs/`, `learning_curves.png`.')
    return '\n'.join(lines)


def log_run_files(client: RetryingClient, run_id: str, work_dir: str | Path,
                  metrics: Mapping[str, Any]) -> None:
    """The seed run's page answers on its own: its full mmengine log (``logs/``) and its learning-curve
    figure (``learning_curves.png``: the monitored validation curves, the tested epochs dotted).

    Best effort: a run whose log or curves are missing (a reused run, an old metrics.json) logs what exists.
    """
    import tempfile

    work_dir = Path(work_dir)
    logs = sorted(work_dir.glob('*/*.log'))  # mmengine: WORK_DIR/<timestamp>/<timestamp>.log, one per attempt
    for log in logs:
        client.log_artifact(run_id, str(log), 'logs')
    conv, sel = metrics.get('convergence'), metrics.get('selection')
    curves = conv.get('curves') if isinstance(conv, Mapping) else None
    if not isinstance(curves, Mapping) or not curves:
        return
    chosen = {}
    for s in (sel.values() if isinstance(sel, Mapping) else []):
        if isinstance(s, Mapping) and s.get('key') and s.get('epoch') is not None:
            chosen[str(s['key'])] = int(s['epoch'])
    from jedi_repro.reporting.figures import monitor_curves
    with tempfile.TemporaryDirectory() as tmp:
        fig = monitor_curves({k: list(v) for k, v in curves.items()}, chosen,
                             Path(tmp) / 'learning_curves.png',
                             f'{work_dir.name}: validation per epoch (dotted: tested epoch)')
        if fig is not None:
            client.log_artifact(run_id, str(fig))


def convergence_record(metrics: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, float]]:
    """Whether the run reached a validation plateau and which epochs were tested, for MLflow.

    Returns:
        Tags ``jedi.converged`` (``true``/``false``) and ``jedi.selection`` (JSON: role -> key, epoch,
        checkpoint), and metrics ``epochs_trained`` and ``best_epoch/{student,teacher}``.
    """
    conv, sel = metrics.get('convergence'), metrics.get('selection')
    tags, values = {}, {}
    if isinstance(conv, Mapping):
        tags['jedi.converged'] = str(bool(conv.get('converged'))).lower()
        values['epochs_trained'] = float(conv.get('last_epoch') or 0)
    if isinstance(sel, Mapping):
        tags['jedi.selection'] = json.dumps(sel, sort_keys=True)
        values.update({f'best_epoch/{role}': float(s['epoch']) for role, s in sel.items()
                       if role != 'expert' and isinstance(s, Mapping) and s.get('epoch') is not None})
    return tags, values


def _last_epoch(metrics: Mapping[str, Any], config: Mapping[str, Any]) -> int:
    """The last epoch trained (``convergence.last_epoch``), else the configured ``max_epochs``."""
    try:
        return int(metrics['convergence']['last_epoch'])
    except (KeyError, TypeError, ValueError):
        pass
    try:
        return int(config.get('train_cfg', {}).get('max_epochs', 0))
    except (TypeError, ValueError, AttributeError):
        return 0


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str, allow_nan=True))


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value) of finite values; NaN if there are none."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return float('nan'), float('nan')
    from jedi_repro.aggregates import mean as exact_mean
    mean = exact_mean(vals)  # the trial's val/{objective} is the Optuna value, to the last bit
    if len(vals) == 1:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)
    return mean, math.sqrt(var)


def aggregate_seeds(per_seed: list[Mapping[str, float]]) -> dict[str, float]:
    """Trial-run metrics: the mean over seeds under the seed keys, the spread under ``std/<key>``."""
    keys = sorted(set().union(*per_seed)) if per_seed else []
    out = {}
    for key in keys:
        mean, std = mean_std(m.get(key) for m in per_seed)
        out[key] = mean
        out[f'std/{key}'] = std
    return out


RUN_RECORD = 'mlflow_run.json'


def start_train_run(work_dir: str | Path, features: str | Path | None = None,
                    experiment: str = TRAIN_EXPERIMENT, run_name: str | None = None,
                    tags: Mapping[str, Any] | None = None, client: RetryingClient | None = None,
                    seed: int | None = None, resume: bool = False) -> tuple[RetryingClient, str]:
    """Open a RUNNING ``jedi.role=seed`` run for a lone ``jedi train`` before training starts.

    Pass ``MLflowMetricsHook(client, run_id)`` to ``train(extra_hooks=...)`` for per-epoch ``val/...``
    metrics, then :func:`log_train_run` with ``run_id`` (or ``end_run(client, run_id, 'FAILED')``). The run
    id is recorded in ``WORK_DIR/mlflow_run.json``; with ``resume`` that run is reopened (its per-epoch
    curves continue) instead of a new one.

    Returns:
        ``(client, run_id)``.
    """
    client = client or RetryingClient()
    record = Path(work_dir) / RUN_RECORD
    if resume and record.is_file():
        previous = json.loads(record.read_text())
        if previous.get('tracking_uri') == client.tracking_uri:
            try:
                client.get_run(previous['run_id'])
            except Exception:  # noqa: BLE001 - deleted, or another store: open a new run
                pass
            else:
                reopen_run(client, previous['run_id'])
                set_tags(client, previous['run_id'], {'jedi.resumed': 'true'})
                return client, previous['run_id']
    exp_id = get_or_create_experiment(client, experiment)
    all_tags = base_tags(experiment, features)
    all_tags.update({'jedi.trial': '', 'jedi.seed': '' if seed is None else seed,
                     'jedi.work_dir': str(work_dir)})
    all_tags.update(tags or {})
    run_id = start_run(client, exp_id, 'seed', run_name or Path(work_dir).name, all_tags)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({'run_id': run_id, 'tracking_uri': client.tracking_uri}))
    return client, run_id


def log_train_run(metrics: Mapping[str, Any], cfg: Any, work_dir: str | Path,
                  features: str | Path | None = None, experiment: str = TRAIN_EXPERIMENT,
                  run_name: str | None = None, tags: Mapping[str, Any] | None = None,
                  client: RetryingClient | None = None, run_id: str | None = None) -> str:
    """Log one finished ``jedi train`` as a single run (``jedi.role=seed``) and return its run id.

    Args:
        metrics: the dict ``train()`` returned (also in ``WORK_DIR/metrics.json``).
        cfg: the config path, ``mmengine.Config`` or dict that was trained.
        work_dir: the run's work dir (recorded as a tag).
        features: the feature store directory, for its hash and per-dataset metric.
        experiment: the MLflow experiment; ``jedi-train`` by default.
        run_name: the run name; default the work dir's name.
        tags: extra tags.
        client: a tracking client; default one on ``workspace.mlflow_uri()``.
        run_id: a run opened by :func:`start_train_run` (it already holds per-epoch metrics); default:
            a new run.
    """
    if run_id is None:
        client, run_id = start_train_run(work_dir, features, experiment, run_name, tags, client,
                                         seed=metrics.get('seed'))
    client = client or RetryingClient()
    set_tags(client, run_id, {'jedi.seed': metrics.get('seed', '')})
    try:
        log_seed_result(client, run_id, metrics, cfg, features)
        log_run_files(client, run_id, work_dir, metrics)
    except BaseException:
        end_run(client, run_id, 'FAILED')
        raise
    end_run(client, run_id, 'FINISHED')
    return run_id
