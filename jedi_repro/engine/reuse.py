"""Reuse of finished seed runs: never train the same thing twice.

A seed run is keyed by (resolved config hash, feature-store content hash, seed, code version). Once a run
finished successfully and completely (it reached its validation plateau or ran to ``max_epochs``, and was
not resumed), its caller records it under ``$JEDI_HOME/reuse/<key>.json`` (written atomically: safe with
parallel workers; two workers finishing the same key write the same kind of entry, the last one stays).
A later study trial or ``jedi train`` asking for the same key adopts that run: its ``metrics.json`` is
copied into the new work dir with a ``reused_from`` block, and the caller tags the new MLflow run
``jedi.reused_from=<original run id>``. An entry whose work dir lost or changed its ``metrics.json`` is
ignored. ``--no-reuse`` turns all of this off.
"""
from __future__ import annotations

import functools
import hashlib
import json
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jedi_repro import workspace
from jedi_repro.tracking import provenance

INDEX_DIR = 'reuse'


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``jedi_repro`` version, plus in a git checkout ``+g<commit>`` and ``.dirty<hash of the diff>``.

    The diff hash (``git diff HEAD`` of tracked files) makes two different uncommitted edits two
    different versions; outside a checkout only the package version counts.
    """
    version = provenance.package_versions(('jedi_repro',))['jedi_repro']
    here = Path(__file__).resolve().parent
    sha = provenance.git_sha(here)
    if sha == 'unknown':
        return version
    try:
        diff = subprocess.run(['git', 'diff', 'HEAD', '--', '.'], cwd=here.parent, capture_output=True,
                              timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return f'{version}+g{sha[:12]}.dirty-unknown'
    dirty = f'.dirty{hashlib.sha256(diff).hexdigest()[:12]}' if diff else ''
    return f'{version}+g{sha[:12]}{dirty}'


def run_key(config_hash: str, features_hash: str, seed: int, code: str) -> str:
    """The reuse key (sha256, 32 hex) of one seed run."""
    blob = json.dumps([config_hash, features_hash, int(seed), code]).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


@dataclass(frozen=True)
class RunKey:
    """What identifies a seed run's result, and its key."""
    config_hash: str
    features_hash: str
    seed: int
    code_version: str

    @property
    def key(self) -> str:
        return run_key(self.config_hash, self.features_hash, self.seed, self.code_version)


def key_for(cfg, features, work_dir, cfg_options=None, seed=None) -> RunKey:
    """The key of ``train(cfg, features, work_dir, cfg_options, seed=seed)`` before it runs.

    The store's values are not scanned here: ``train()`` scans them when it runs, and a run of a store
    with NaN features never finished, so it is never found.
    """
    from jedi_repro.engine.train import config_record, prepare_config
    resolved, store, seed = prepare_config(cfg, features, work_dir, cfg_options, seed, check_values=False)
    return RunKey(provenance.config_hash(config_record(resolved)), store.content_hash(), seed, code_version())


def is_reusable(metrics: Mapping[str, Any]) -> bool:
    """A complete, successful run: converged, or trained to its ``max_epochs`` cap; never a resumed or
    reused run (its own original is the one to link) nor one without test and validation metrics."""
    conv = metrics.get('convergence') or {}
    config = metrics.get('config') or {}
    resumed = metrics.get('resumed') or config.get('resume') or config.get('load_from')
    if metrics.get('reused_from') or resumed:
        return False
    if not (metrics.get('mean') and metrics.get('val')):
        return False
    cap = (config.get('train_cfg') or {}).get('max_epochs')
    return bool(conv.get('converged')) or (cap is not None and conv.get('last_epoch') == cap)


def _index_path(key: str) -> Path:
    return workspace.path(INDEX_DIR) / f'{key}.json'


def record(rk: RunKey, work_dir, metrics: Mapping[str, Any], run_id: str | None = None) -> bool:
    """Index a finished run under its key if it is reusable; returns whether it was indexed."""
    from jedi_repro.atomic import write_json_atomic
    if not is_reusable(metrics) or int(metrics.get('seed', -1)) != rk.seed:
        return False
    entry = dict(key=rk.key, config_hash=rk.config_hash, features_hash=rk.features_hash, seed=rk.seed,
                 code_version=rk.code_version, work_dir=str(Path(work_dir).resolve()), run_id=run_id,
                 metrics_config_hash=provenance.config_hash(metrics.get('config') or {}),
                 wall_s=float(metrics.get('wall_s', 0.0)), recorded=time.time())
    write_json_atomic(_index_path(rk.key), entry)
    return True


def lookup(rk: RunKey) -> tuple[dict, dict] | None:
    """``(entry, metrics)`` of the indexed run for this key, or None (missing, or its work dir no longer
    holds the same finished run)."""
    try:
        entry = json.loads(_index_path(rk.key).read_text())
        metrics = json.loads((Path(entry['work_dir']) / 'metrics.json').read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    same = (metrics.get('features_hash') == rk.features_hash and metrics.get('seed') == rk.seed
            and provenance.config_hash(metrics.get('config') or {}) == entry.get('metrics_config_hash'))
    return (entry, metrics) if same and is_reusable(metrics) else None


def adopt(entry: Mapping[str, Any], metrics: Mapping[str, Any], work_dir) -> dict:
    """Write the reused run's ``metrics.json`` into ``work_dir`` with a ``reused_from`` block; return it.

    ``wall_s`` keeps the original training time (the time this reuse saved), ``reused_from`` names the
    original work dir, MLflow run and key.
    """
    from jedi_repro.atomic import write_json_atomic
    out = dict(metrics)
    out['reused_from'] = {k: entry.get(k) for k in ('work_dir', 'run_id', 'key', 'code_version')}
    write_json_atomic(Path(work_dir) / 'metrics.json', out)
    return out


def reuse_tags(entry: Mapping[str, Any]) -> dict[str, str]:
    """MLflow tags of a run that reused ``entry``'s result."""
    return {'jedi.reused': 'true', 'jedi.reused_from': str(entry.get('run_id') or ''),
            'jedi.reused_work_dir': str(entry.get('work_dir')), 'jedi.reuse_key': str(entry.get('key'))}


def _original_run_id(client, entry: Mapping[str, Any]) -> str:
    """MLflow's id of the run ``entry`` records: one opened during a tracking outage has a local id until its
    record is sent (by its own work dir's record, or a peer's in a study)."""
    from jedi_repro.tracking.offline import LOCAL_ID, BufferedClient
    src = str(entry.get('run_id') or '')
    if LOCAL_ID.fullmatch(src) and hasattr(client, 'run_id'):
        src = client.run_id(src)
    if LOCAL_ID.fullmatch(src) and entry.get('work_dir'):
        src = BufferedClient(entry['work_dir'], offline=True).run_id(src)
    return src


def link_mlflow_run(client, run_id: str, entry: Mapping[str, Any], prefix: str = 'val_epoch/') -> dict:
    """Tag ``run_id`` as reusing ``entry`` (tags, and a link to the original in the run's description) and
    copy the original run's per-epoch curves into it.

    Returns ``{key: [(step, value), ...]}`` of the copied curves (empty when the original run is not in
    this tracking store: the tags still name it).
    """
    from mlflow.entities import Metric

    from jedi_repro.tracking.notes import set_block
    from jedi_repro.tracking.runs import set_tags
    src = _original_run_id(client, entry)
    set_tags(client, run_id, reuse_tags({**entry, 'run_id': src}))
    if not src:
        return {}
    try:
        original = client.get_run(src)
    except Exception:  # noqa: BLE001 - the original run may live in another tracking store
        return {}
    # the run's description in the MLflow UI (Markdown): a link to the run whose result this is
    link = f'#/experiments/{original.info.experiment_id}/runs/{src}'
    set_block(client, run_id, 'reuse', (
        f'Not trained: reuses the finished run [{src}]({link}) (same resolved config, feature store, seed '
        f'and code version {entry.get("code_version")}).'))
    keys = [k for k in original.data.metrics if k.startswith(prefix)]
    curves = {k: sorted((m.step, m.value) for m in client.get_metric_history(src, k)) for k in keys}
    batch = [Metric(k, v, int(time.time() * 1000), s) for k, pts in curves.items() for s, v in pts]
    for i in range(0, len(batch), 1000):  # MLflow's log_batch limit
        client.log_batch(run_id, metrics=batch[i:i + 1000])
    return curves


def adopt_logged(found: tuple[dict, dict], config, features, work_dir, seed,
                 experiment: str | None, offline: bool = False) -> tuple[dict, str | None]:
    """``jedi train``'s reuse: adopt ``found`` into ``work_dir`` and log it as a finished MLflow run
    (tagged and linked to the original run; ``experiment=None``: untracked). ``offline``: the MLflow record
    is kept in ``work_dir`` for ``jedi sync`` (the tags name the original run; its curves are not copied).
    Returns (metrics, run id)."""
    metrics = adopt(*found, work_dir)
    if experiment is None:
        return metrics, None
    from jedi_repro.tracking.offline import BufferedClient
    from jedi_repro.tracking.runs import log_train_run, start_train_run
    client, run_id = start_train_run(work_dir, features=features, experiment=experiment, seed=seed,
                                     client=BufferedClient(work_dir, offline=offline))
    link_mlflow_run(client, run_id, found[0])
    return metrics, log_train_run(metrics, config, work_dir, features=features, experiment=experiment,
                                  client=client, run_id=run_id)
