"""Provenance of a report: code version, package versions, feature stores, config hashes, rerun commands."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from jedi_repro.reporting.runs import T_CONFIG, T_FEATURES, T_GIT, RunSet
from jedi_repro.tracking.provenance import cpu_kind, git_sha, package_versions  # noqa: F401  (re-exported)

# The packages a report lists (more than a run records: the report's own table and plot stack too).
PACKAGES = (
    'jedi_repro',
    'torch',
    'mmengine',
    'mmaction2',
    'mmcv-lite',
    'numpy',
    'scipy',
    'pandas',
    'matplotlib',
    'mlflow',
    'optuna',
)


def git_state(repo: Path | None = None) -> str:
    """``<sha>`` (``+dirty`` when tracked files changed) of the checkout the code runs from; from an
    installed package, its version."""
    repo = repo or Path(__file__).resolve().parents[2]
    sha = git_sha(repo)
    if sha == 'unknown':  # an installed wheel: its version is what identifies the code
        version = package_versions(('jedi_repro',)).get('jedi_repro', 'missing')
        return f'jedi_repro {version} (installed package, not a git checkout)'
    try:
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], cwd=repo,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return sha
    return sha + ('+dirty' if dirty else '')


def run_provenance(run_set: RunSet) -> dict:
    """The distinct git shas and feature-store hashes of the seed runs, and each configuration's hashes."""
    shas, feats, cpus = set(), set(), set()
    configs = []
    for c in run_set.configurations:
        hashes = sorted({s.tags.get(T_CONFIG, '') for s in c.seeds} - {''})
        configs.append((c.label, len(c.seeds), ', '.join(hashes) or 'not recorded'))
        shas |= {s.tags.get(T_GIT, '') for s in c.seeds}
        feats |= {s.tags.get(T_FEATURES, '') for s in c.seeds}
        cpus |= {s.tags.get('jedi.cpu', '') for s in c.seeds}
    return {'git_shas': sorted(shas - {''}), 'features_hashes': sorted(feats - {''}), 'configs': configs,
            'cpus': sorted(cpus - {''})}


def rerun_commands(run_set: RunSet, report_argv: list[str]) -> list[str]:
    """Commands that regenerate the runs and this report."""
    cmds = []
    for study in run_set.studies:
        parent = run_set.parents.get(study)
        spec = parent.data.tags.get('jedi.spec') if parent is not None else None
        if spec:
            cmds.append(f'jedi study run {shlex.quote(spec)}')
        elif parent is not None:
            cmds.append(
                f'jedi study run <the spec of study {study}>   # the study run records no jedi.spec tag'
            )
    lone = [c for c in run_set.configurations if c.trial_run_id is None and c.study not in run_set.parents]
    for c in lone:
        for s in c.seeds:
            seed = f' --cfg-options randomness.seed={s.seed}' if s.seed is not None else ''
            cmds.append(
                f'jedi train <config.py artifact of run {s.run_id}> --features <store '
                f'{s.tags.get(T_FEATURES, "?")[:12]}> --work-dir <dir>{seed}'
            )
    cmds.append(' '.join(shlex.quote(a) for a in report_argv))
    return cmds
