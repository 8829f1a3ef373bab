"""A study's configurations ranked by each objective: what its MLflow parent run and experiment open on.

Read from the tracking store (the seed runs of every complete trial), so it is the same wherever the
workers ran. Per configuration: the objective on validation in percent (mean and 95% CI over seeds), its
margin to the best configuration, its margin to the experts of the same runs (the baseline every run
carries; paired by seed), and the test mean of the same role (reported, never used to choose), with a
link to the trial's run.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from jedi_repro import aggregates
from jedi_repro.reporting import stats
from jedi_repro.tracking.views import run_link

#: the description block the ranking owns (``jedi_repro.tracking.notes``)
BLOCK = 'ranking'


@dataclass(frozen=True)
class Ranked:
    """One configuration of a study, as the ranking shows it.

    Args:
        name: the trial run's name (``trial-0001 gamma=0.4``).
        run_id: the trial run's id.
        val: the objective on validation per seed, ``{seed: fraction}``.
        expert: the experts' value of the same key per seed (``val/mean/expert/...``), when the objective
            is a student's or a teacher's.
        test: the same key on test per seed (reported only).
    """
    name: str
    run_id: str
    val: dict
    expert: dict
    test: dict

    @property
    def value(self) -> float:
        """The trial's value: the mean over seeds (Optuna's, ``jedi_repro.aggregates``)."""
        return aggregates.mean(self.val.values()) if self.val else math.nan


def expert_key(metric: str) -> str | None:
    """``mean/student/primary`` -> ``mean/expert/primary``: the baseline of a student or teacher objective."""
    parts = metric.split('/')
    if len(parts) == 3 and parts[1] in ('student', 'teacher'):
        return f'{parts[0]}/expert/{parts[2]}'
    return None


def collect(trials: Sequence, seeds: Sequence, metric: str) -> list[Ranked]:
    """The complete trials with their seeds' values of ``metric``.

    Args:
        trials: MLflow trial runs (``jedi.role=trial``).
        seeds: MLflow seed runs (``jedi.role=seed``), matched to trials by ``mlflow.parentRunId``.
        metric: the objective's key without split, e.g. ``mean/student/primary``.
    """
    base = expert_key(metric)
    by_parent: dict[str, list] = {}
    for s in seeds:
        by_parent.setdefault(s.data.tags.get('mlflow.parentRunId'), []).append(s)
    out = []
    for t in trials:
        if t.data.tags.get('jedi.state') != 'COMPLETE':
            continue
        val, expert, test = {}, {}, {}
        for s in by_parent.get(t.info.run_id, []):
            if s.data.tags.get('jedi.state') != 'COMPLETE':
                continue
            seed, m = s.data.tags.get('jedi.seed', s.info.run_id), s.data.metrics
            if f'val/{metric}' in m:
                val[seed] = m[f'val/{metric}']
            if base and f'val/{base}' in m:
                expert[seed] = m[f'val/{base}']
            if f'test/{metric}' in m:
                test[seed] = m[f'test/{metric}']
        if val:
            out.append(Ranked(t.info.run_name or t.info.run_id, t.info.run_id, val, expert, test))
    return out


def rank(rows: Sequence[Ranked], direction: str = 'maximize') -> list[Ranked]:
    """Best first by the mean over seeds; ties keep the given (trial) order."""
    sign = -1.0 if direction == 'maximize' else 1.0
    return sorted(rows, key=lambda r: sign * r.value if math.isfinite(r.value) else math.inf)


def _pct(values) -> str:
    return stats.format_cell(stats.summarize(list(values)))


def _paired(a: Mapping, b: Mapping) -> str:
    both = sorted(set(a) & set(b), key=str)
    if not both:
        return '-'
    test = stats.paired_t_test([a[k] for k in both], [b[k] for k in both])
    return stats.format_cell(test.diff, signed=True) + stats.significance_mark(test.p)


def table(rows: Sequence[Ranked], metric: str, direction: str, experiment_id: str,
          dataset_metrics: Mapping[str, str] | None = None) -> str:
    """The Markdown ranking of one objective (best first), for a run's or an experiment's description."""
    ranked = rank(rows, direction)
    if not ranked:
        return ''
    best = ranked[0]
    base = expert_key(metric)
    what = aggregates.describe(metric, dataset_metrics)
    order = 'highest' if direction == 'maximize' else 'lowest'
    # the first line is what the UI shows before "Show more": the winner and its value
    lines = [f'**Winner by val/{metric}: {best.name}, {100 * best.value:.2f} %** (validation, mean over '
             f'{len(best.val)} seeds; {len(ranked)} configurations ranked below, {order} first; {what}).', '',
             '| rank | configuration | val, % (95% CI, seeds) | Δ to best | '
             + ('Δ to experts, val | ' if base else '') + 'test, % (reported) |',
             '|---:|:---|---:|---:|' + ('---:|' if base else '') + '---:|']
    for i, r in enumerate(ranked, 1):
        margin = 'best' if r is best else _paired(r.val, best.val)
        cells = [str(i), f'[{r.name}]({run_link(experiment_id, r.run_id)})', _pct(r.val.values()),
                 margin]
        if base:
            cells.append(_paired(r.val, r.expert))
        cells.append(_pct(r.test.values()) if r.test else '-')
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += ['', 'Cells: mean ± half-width of the 95% CI over seeds (number of seeds), in percent; Δ: mean '
              'difference paired by seed, in points (`*` p < 0.05, `**` p < 0.01, paired t-test). Chosen on '
              'validation; test is shown, never used to choose.']
    return '\n'.join(lines)


def study_ranking(client, experiment_id: str, parent_run_id: str, objectives: Sequence[tuple[str, str]],
                  dataset_metrics: Mapping[str, str] | None = None) -> str:
    """The ranking of every objective of the study whose parent run is ``parent_run_id`` (Markdown)."""
    def role(name):
        return client.search_runs([experiment_id], filter_string=f"tags.`jedi.role` = '{name}'",
                                  max_results=50000)

    trials = [r for r in role('trial') if r.data.tags.get('mlflow.parentRunId') == parent_run_id]
    trials.sort(key=lambda r: int(r.data.tags.get('jedi.trial') or 0))
    ids = {t.info.run_id for t in trials}
    seeds = [r for r in role('seed') if r.data.tags.get('mlflow.parentRunId') in ids]
    parts = [table(collect(trials, seeds, metric), metric, direction, experiment_id, dataset_metrics)
             for metric, direction in objectives]
    return '\n\n'.join(p for p in parts if p)
