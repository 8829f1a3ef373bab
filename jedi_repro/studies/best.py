"""The best trial of a study, per objective: what the console, the MLflow parent run and the report show.

A multi-objective study has no single best trial (Optuna's ``best_trials`` is a Pareto front), so every
"best" names its objective: the best trial BY that objective, ties to the lower trial number. A trial's
value is the mean over seeds of the objective on validation (``jedi_repro.aggregates``); the test split
is never used to choose.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jedi_repro import aggregates


@dataclass(frozen=True)
class Best:
    """The best complete trial by one objective.

    Args:
        metric: the objective's key (``mean/student/primary``), read on validation.
        direction: ``maximize`` or ``minimize``.
        number: the trial number.
        value: its value (mean over seeds).
        name: the trial's run name (``trial-0001 gamma=0.4``).
        params: its searched values, decoded.
    """
    metric: str
    direction: str
    number: int
    value: float
    name: str
    params: dict

    def line(self, metrics: Mapping[str, str] | None = None, single: bool = False) -> str:
        """``best by val/mean/student/primary (students' mean of ..., validation): trial-0001 gamma=0.4,
        81.09 %``: the same words wherever a best trial is printed. ``single``: the study has one
        configuration (a baseline), so nothing was chosen and the line says so."""
        which = 'the one configuration' if single else f'best by val/{self.metric}'
        return (f'{which} ({aggregates.describe(self.metric, metrics, "val")}): {self.name}, '
                f'{aggregates.pct(self.value)} %')


def best_by_objective(trials: Sequence[Any], metrics: Sequence[str],
                      directions: Sequence[str]) -> list[Best | None]:
    """For each objective, the best of ``trials`` (Optuna FrozenTrials; only COMPLETE ones count)."""
    from optuna.trial import TrialState

    from jedi_repro.studies.objective import RUN_NAME_ATTR, run_name

    done = sorted((t for t in trials if t.state == TrialState.COMPLETE and t.values), key=lambda t: t.number)
    out: list[Best | None] = []
    for i, (metric, direction) in enumerate(zip(metrics, directions)):
        idx = aggregates.best_index([t.values[i] for t in done], direction)
        if idx is None:
            out.append(None)
            continue
        t = done[idx]
        name = t.user_attrs.get(RUN_NAME_ATTR) or run_name(t.number, t.params)
        out.append(Best(metric, direction, t.number, float(t.values[i]), name, dict(t.params)))
    return out


def study_best(study, metrics: Sequence[str] | None = None) -> list[Best | None]:
    """:func:`best_by_objective` of a loaded Optuna study (objective names from ``study.metric_names``)."""
    names = metrics or study.metric_names or [f'objective {i}' for i in range(len(study.directions))]
    names = [n[4:] if n.startswith('val/') else n for n in names]
    directions = [d.name.lower() for d in study.directions]
    return best_by_objective(study.get_trials(deepcopy=False), names, directions)


def parent_record(bests: Sequence[Best | None]) -> tuple[dict[str, float], dict[str, str]]:
    """The MLflow parent run's metrics ``best/{metric}`` and tags ``jedi.best/{metric}`` (the trial's
    name)."""
    metrics, tags = {}, {}
    for b in bests:
        if b is not None:
            metrics[f'best/{b.metric}'] = b.value
            tags[f'jedi.best/{b.metric}'] = b.name
    return metrics, tags
