"""Portable paths in reports: no absolute path of the machine that wrote them.

A report is shared (committed, pasted into a pull request), so the paths in it (MLflow URI, journal
files, configs, rerun commands) are written relative to the workspace root (``$JEDI_HOME/...``), the
checkout (``mm_configs/...``, ``studies/...``) or the home directory (``~/...``).
"""
from __future__ import annotations

import re
from pathlib import Path

WORKSPACE_VAR = '$JEDI_HOME'
#: Said once under every report's rerun commands.
RERUN_NOTE = ('# $JEDI_HOME = the workspace root (default ./jedi_work); '
              'relative paths are relative to the jedi_repro checkout')


def checkout_root() -> Path:
    """The source checkout the package runs from (holds mm_configs/ and studies/)."""
    return Path(__file__).resolve().parents[2]


def _roots(workspace_root: Path | None = None, checkout: Path | None = None) -> list[tuple[str, str]]:
    """``(absolute prefix, replacement)``, most specific first (the workspace may lie in the checkout)."""
    from jedi_repro import workspace
    pairs = [(str(Path(workspace_root or workspace.root()).resolve()), WORKSPACE_VAR),
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
