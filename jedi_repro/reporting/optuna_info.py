"""Optuna side of a study: load it from its storage, its best trial and its parameter importances."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jedi_repro.errors import JediError

MIN_TRIALS_FOR_IMPORTANCE = 2


@dataclass
class OptunaSummary:
    """What the report shows of an Optuna study.

    Args:
        study: the study name.
        storage: where it was loaded from (a journal file or a URL), or where it was looked for.
        loaded: whether it was found.
        n_complete: completed trials.
        directions: 'maximize' / 'minimize' per objective.
        best: ``{'number', 'value', 'params'}`` of the best trial (first objective), or None.
        bests: the best trial per objective (``jedi_repro.studies.best.Best`` or None each).
        metrics: the objectives' keys (``mean/student/primary``), in order.
        single_point: a grid of one point (a baseline: nothing searched).
        importances: ``{param: importance}`` (fANOVA, seed 0), or None.
        notes: why something is missing, one sentence each.
    """

    study: str
    storage: str
    loaded: bool = False
    n_complete: int = 0
    directions: list[str] = field(default_factory=list)
    best: dict[str, Any] | None = None
    bests: list = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    single_point: bool = False
    importances: dict[str, float] | None = None
    notes: list[str] = field(default_factory=list)


def default_storage(study: str) -> str:
    from jedi_repro import workspace

    return str(workspace.journal_path(study))


def load_study(study: str, storage: str | None = None):
    """Load an Optuna study from a journal file (default: the workspace's) or an RDB/journal URL.

    Returns:
        ``(optuna.Study or None, storage string, note)``; None with a note when there is no such storage.

    Raises:
        JediError: the storage exists but holds no study of that name, or cannot be read.
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    where = storage or default_storage(study)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if '://' in where:
        from jedi_repro.studies.storage import RDB_SCHEMES, open_storage
        # the report reads: it never creates an RDB schema (that is `jedi study run`'s, done once)
        backend = open_storage(where, create_schema=False) if where.startswith(RDB_SCHEMES) else where
    else:
        if not Path(where).is_file():
            return (
                None,
                where,
                f'no Optuna journal at {where}; importances and the Optuna best trial are omitted',
            )
        try:
            backend = JournalStorage(JournalFileBackend(where))
        except Exception as exc:  # noqa: BLE001 - optuna raises several types for a damaged file
            raise JediError(f'Optuna journal {where} cannot be read: {exc}') from None
    try:
        return optuna.load_study(study_name=study, storage=backend), where, ''
    except KeyError:
        raise JediError(f'Optuna storage {where} has no study named {study!r}') from None


def _single_grid_point(study) -> bool:
    """Every trial was enqueued for the same grid point (``jedi_repro.studies.recovery.GRID_ATTR``)."""
    from jedi_repro.studies.recovery import GRID_ATTR

    keys = {t.user_attrs.get(GRID_ATTR) for t in study.trials}
    return len(keys) == 1 and None not in keys


def summarize_study(study: str, storage: str | None = None, importance: bool = True) -> OptunaSummary:
    """Best trial and, for searches with at least two completed trials, the parameter importances."""
    import optuna

    obj, where, note = load_study(study, storage)
    out = OptunaSummary(study, where)
    if obj is None:
        out.notes.append(note)
        return out
    out.loaded = True
    out.directions = [d.name.lower() for d in obj.directions]
    complete = [t for t in obj.trials if t.state == optuna.trial.TrialState.COMPLETE]
    out.n_complete = len(complete)
    if not complete:
        out.notes.append('no completed Optuna trials')
        return out
    from jedi_repro.studies.best import study_best

    out.bests = study_best(obj)
    out.metrics = [b.metric if b else f'objective {i}' for i, b in enumerate(out.bests)]
    first = out.bests[0]
    if first is not None:
        out.best = {'number': first.number, 'value': first.value, 'params': dict(first.params)}
    # a grid of one point (the student-only baseline): "1 completed trials" would read like a failed search
    out.single_point = _single_grid_point(obj)
    if not importance:
        return out
    if out.n_complete < MIN_TRIALS_FOR_IMPORTANCE:
        out.notes.append(
            f'parameter importances need at least {MIN_TRIALS_FOR_IMPORTANCE} completed trials, '
            f'this study has {out.n_complete}'
        )
        return out
    try:
        ev = optuna.importance.FanovaImportanceEvaluator(seed=0)
        imp = optuna.importance.get_param_importances(obj, evaluator=ev, target=lambda t: t.values[0])
        out.importances = {k: float(v) for k, v in imp.items()}
    except (RuntimeError, ValueError) as exc:  # e.g. a parameter space with one point
        out.notes.append(f'parameter importances could not be computed: {exc}')
    return out
