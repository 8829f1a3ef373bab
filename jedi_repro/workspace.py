"""The workspace root, resolved in one place.

Everything a run writes (feature stores, work dirs, the MLflow database and artifacts, Optuna journals)
lives under one directory: ``$JEDI_HOME`` if set, else ``./jedi_work``. Nothing is written into the
package.
"""
from __future__ import annotations

import os
import re
from pathlib import Path


def root() -> Path:
    """The workspace root (not created)."""
    return Path(os.environ.get('JEDI_HOME', 'jedi_work')).expanduser().resolve()


def path(*parts: str, mkdir: bool = False) -> Path:
    """A path under the workspace root; with ``mkdir`` the directory itself is created."""
    p = root().joinpath(*parts)
    if mkdir:
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            from jedi_repro.errors import JediError
            raise JediError(f'the workspace root {root()} (JEDI_HOME) cannot be written: creating {p} failed '
                            f'({exc.strerror or exc}); set JEDI_HOME to a writable directory') from None
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


# Portable paths, for what is shared (reports, MLflow dataset sources): no absolute path of this machine,
# but paths relative to the workspace root ($JEDI_HOME/...), the checkout (mm_configs/...) or home (~/...).
WORKSPACE_VAR = '$JEDI_HOME'


def checkout_root() -> Path:
    """Where ``mm_configs/`` and ``studies/`` are: the checkout, or an installed package's ``.mim/``."""
    from jedi_repro.resources import shipped_root
    return shipped_root()


def _roots(workspace_root: Path | None = None, checkout: Path | None = None) -> list[tuple[str, str]]:
    """``(absolute prefix, replacement)``, most specific first (the workspace may lie in the checkout)."""
    pairs = [(str(Path(workspace_root or root()).resolve()), WORKSPACE_VAR),
             (str(Path(checkout or checkout_root()).resolve()), '.'),
             (str(Path.home().resolve()), '~')]
    pairs = [(p, r) for p, r in pairs if p not in ('/', '')]
    return sorted(pairs, key=lambda pr: -len(pr[0]))


def portable_text(text: str, workspace_root: Path | None = None, checkout: Path | None = None) -> str:
    """``text`` with every absolute path under the workspace, the checkout or home made portable.

    ``<checkout>/mm_configs/x.py`` -> ``mm_configs/x.py``; ``<workspace>/studies/s.journal`` ->
    ``$JEDI_HOME/studies/s.journal``; ``sqlite:///<workspace>/mlflow/mlflow.db`` ->
    ``sqlite:///$JEDI_HOME/mlflow/mlflow.db``; ``file://`` URIs alike.
    """
    for prefix, repl in _roots(workspace_root, checkout):
        esc = re.escape(prefix)
        if repl == '.':  # the checkout: paths below it become relative, the checkout itself '.'
            text = re.sub(r'(?:file://)?' + esc + r'/', '', text)
            text = re.sub(r'(?:file://)?' + esc + r'(?![\w.-])', '.', text)
        else:
            text = re.sub(esc + r'(?![\w.-])', lambda _m, r=repl: r, text)
    return text
