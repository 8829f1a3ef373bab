"""Provenance of a run: code version, package versions, feature-store and config hashes."""
from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ('jedi_repro', 'torch', 'numpy', 'mmengine', 'mmaction2', 'mmcv-lite', 'mlflow', 'optuna')
# Keys that differ between the seeds of one configuration; left out of the configuration hash. Any key
# named ``seed`` at any depth (``randomness.seed``, ``train_dataloader.dataset.seed``) counts too.
SEED_KEYS = ('seed', 'work_dir')


def is_seed_key(key: str) -> bool:
    return key in SEED_KEYS or key.endswith('.seed')


def git_sha(cwd: str | Path | None = None) -> str:
    """``git rev-parse HEAD`` of the checkout holding this package (or ``cwd``), else ``'unknown'``."""
    cwd = Path(cwd) if cwd else Path(__file__).resolve().parent
    try:
        out = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=cwd, capture_output=True, text=True,
                             timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return 'unknown'
    sha = out.stdout.strip()
    return sha if len(sha) == 40 else 'unknown'


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, :func:`jedi_repro.engine.precision.cpu_flags`), else what
    :mod:`platform` knows."""
    import platform

    from jedi_repro.engine.precision import cpu_flags
    return cpu_flags()[0] or platform.processor() or platform.machine()


def cpu_kind() -> str:
    """The machine kind numbers depend on: the CPU model and the instruction set torch's CPU kernels
    dispatch to (``ATEN_CPU_CAPABILITY`` and ``ONEDNN_MAX_CPU_ISA`` when set force others), e.g. ``AMD EPYC;
    torch kernels AVX2``. Convolutions sum in an order that depends on it: another kind trains other
    experts (README, "Same command, same numbers: the CPU kind")."""
    import os

    model = cpu_model()
    try:
        import torch
        kernels = torch.backends.cpu.get_cpu_capability()
    except Exception:  # noqa: BLE001 - a record only
        kernels = 'unknown'
    forced = [f'{k}={os.environ[k]}' for k in ('ATEN_CPU_CAPABILITY', 'ONEDNN_MAX_CPU_ISA')
              if os.environ.get(k)]
    return f'{model}; torch kernels {kernels}' + (f' ({", ".join(forced)})' if forced else '')


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed distribution versions; ``'missing'`` for one that is not installed."""
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = 'missing'
    return versions


def features_hash(features: str | Path) -> str:
    """The feature store's content hash (``FeatureStore.content_hash()``); ``'unknown'`` without a store."""
    from jedi_repro.data.feature_store import FeatureStore

    if not (Path(features) / 'manifest.json').is_file():
        return 'unknown'
    return FeatureStore.open(features, check_values=False).content_hash()


def expert_sources(features: str | Path) -> dict[str, dict]:
    """``{expert: provenance}`` of the store's imported experts (package, version, sha256s; the manifest's
    ``experts[].provenance``); ``{}`` without a store or without imported experts."""
    from jedi_repro.data.feature_store import FeatureStore

    if not (Path(features) / 'manifest.json').is_file():
        return {}
    store = FeatureStore.open(features, check_values=False)
    keys = ('source', 'package', 'version', 'archive_sha256', 'weights_sha256', 'licence')
    return {e: {k: p[k] for k in keys if k in p} for e in store.expert_names
            if (p := store.expert(e).get('provenance'))}


def dataset_metrics(features: str | Path, metrics: Mapping[str, Any] | None = None) -> dict[str, str]:
    """``{dataset: 'top1' | 'mAP'}``: the metric a report shows per dataset.

    Read from the feature store manifest; without one, ``'mAP'`` where ``metrics`` carries mAP.
    """
    from jedi_repro.data.feature_store import FeatureStore

    if (Path(features) / 'manifest.json').is_file():
        store = FeatureStore.open(features, check_values=False)
        return {name: store.dataset(name).get('metric', 'top1') for name in store.dataset_names}
    datasets = (metrics or {}).get('datasets', {})
    return {name: ('mAP' if 'mAP' in roles.get('student', {}) else 'top1')
            for name, roles in datasets.items()}


def flatten(tree: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
    """``{'model': {'gamma': 0.4}}`` -> ``{'model.gamma': 0.4}``; lists and scalars are leaves."""
    flat = {}
    for key, value in tree.items():
        name = f'{prefix}{key}'
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + '.'))
        else:
            flat[name] = value
    return flat


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 (16 hex) of the flattened config without seed keys: equal for the seeds of one config."""
    flat = {k: v for k, v in flatten(config).items() if not is_seed_key(k)}
    blob = json.dumps(flat, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
