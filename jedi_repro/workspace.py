"""The workspace root, resolved in one place.

Everything a run writes (feature stores, work dirs, the MLflow database and artifacts, Optuna journals)
lives under one directory: ``$JEDI_HOME`` if set, else ``./jedi_work``. Nothing is written into the
package.
"""
from __future__ import annotations

import os
from pathlib import Path


def root() -> Path:
    """The workspace root (not created)."""
    return Path(os.environ.get('JEDI_HOME', 'jedi_work')).expanduser().resolve()


def path(*parts: str, mkdir: bool = False) -> Path:
    """A path under the workspace root; with ``mkdir`` the directory itself is created."""
    p = root().joinpath(*parts)
    if mkdir:
        p.mkdir(parents=True, exist_ok=True)
    return p


def features_dir(name: str = 'default') -> Path:
    return path('features', name)


def work_dir(name: str) -> Path:
    return path('work_dirs', name)


def mlflow_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else a SQLite database in the workspace root (not created here)."""
    uri = os.environ.get('MLFLOW_TRACKING_URI')
    if uri:
        return uri
    return 'sqlite:///' + str(path('mlflow', 'mlflow.db'))  # created by the first writer


def mlflow_artifacts_dir() -> Path:
    return path('mlflow', 'artifacts', mkdir=True)


def journal_path(study: str) -> Path:
    """Default Optuna storage of a study: a JournalStorage file (safe for parallel local workers)."""
    return path('studies', mkdir=True) / f'{study}.journal'
