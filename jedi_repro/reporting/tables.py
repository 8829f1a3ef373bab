"""Result tables with pandas: methods as rows, datasets as columns plus their mean.

Every cell is ``mean ± ci (n)`` in percent over seeds (95% Student-t interval; no interval with one
seed). Student and teacher cells carry the mark of a paired t-test against the expert of the same runs
(``*`` p < 0.05, ``**`` p < 0.01); the delta rows give the mean paired difference with its own interval.
The "mean" column is, per run, the average over datasets of the metric each dataset reports (top-1, or
mAP where the dataset declares it), then summarised over seeds like any other column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from jedi_repro import aggregates
from jedi_repro.reporting import stats
from jedi_repro.reporting.runs import ROLES, Configuration, RunSet

ROW_LABELS = {'expert': 'expert (baseline)', 'student': 'JEDI student', 'teacher': 'JEDI teacher'}
MEAN = 'mean'


@dataclass
class Table:
    """A table in two forms: text cells to show, and tidy numbers to export.

    Args:
        name: file stem under ``tables/`` (e.g. ``main``, ``ablation_gamma_model.gamma``).
        title: one-line caption.
        display: string cells, columns in display order.
        numeric: one row per (configuration, role, column): mean, ci95, n, std, delta, p, ...
        notes: sentences printed under the table (undefined tests, each naming its cells).
        one_expert: some expert cells show one reused expert instead of an interval (the legend says so).
    """

    name: str
    title: str
    display: pd.DataFrame
    numeric: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    one_expert: bool = False


def long_frame(run_set: RunSet, split: str = 'final') -> pd.DataFrame:
    """One row per (configuration, seed run, role, column) with the value of the shown metric.

    ``column`` is a dataset name, or ``mean`` (the run's average over all datasets, only when the run
    has every dataset). ``split``: ``final`` (test, what tables report) or ``val`` (the validation
    metrics of the same checkpoints, what every choice is made on).
    """
    rows = []
    for c in run_set.configurations:
        for s in c.seeds:
            values = s.val if split == 'val' else s.final
            for role in ROLES:
                vals = {}
                for d, metric in run_set.datasets.items():
                    v = values.get((d, role, metric))
                    if v is not None:
                        vals[d] = v
                        rows.append((c.key, c.study, s.run_id, s.seed, role, d, metric, v))
                if vals and len(vals) == len(run_set.datasets):
                    # the primary mean of jedi_repro.aggregates (= the runs' mean/{role}/primary)
                    per = {d: {run_set.datasets[d]: v} for d, v in vals.items()}
                    rows.append((c.key, c.study, s.run_id, s.seed, role, MEAN, MEAN,
                                 aggregates.primary_mean(per, run_set.datasets)))
    return pd.DataFrame(
        rows, columns=['config', 'study', 'run_id', 'seed', 'role', 'column', 'metric', 'value']
    )


def role_values(frame: pd.DataFrame, config: str, role: str, column: str) -> pd.Series:
    """The values of one cell, indexed by run id (so roles of the same run pair up)."""
    sel = frame[(frame.config == config) & (frame.role == role) & (frame.column == column)]
    return sel.set_index('run_id').value


def seed_values(frame: pd.DataFrame, config: str, role: str, column: str) -> dict:
    """``{seed: value}`` of one cell (runs without a seed are left out), to pair configurations by seed."""
    sel = frame[(frame.config == config) & (frame.role == role) & (frame.column == column)]
    return {int(s): float(v) for s, v in zip(sel.seed, sel.value) if s is not None and not pd.isna(s)}


def cell_stats(frame: pd.DataFrame, config: str, role: str, column: str) -> dict:
    """Summary of one cell and, for student/teacher, the paired test against the expert."""
    vals = role_values(frame, config, role, column)
    s = stats.summarize(vals.tolist())
    row = dict(
        role=role,
        column=column,
        mean=s.mean,
        ci95=s.ci,
        n=s.n,
        std=s.std,
        delta=None,
        delta_ci95=None,
        t=None,
        p=None,
        mark='',
        note='',
        summary=s,
        diff=None,
    )
    if role != 'expert' and s.n:
        ref = role_values(frame, config, 'expert', column)
        both = vals.index.intersection(ref.index)
        if len(both):
            test = stats.paired_t_test(vals[both].tolist(), ref[both].tolist())
            row.update(
                delta=test.diff.mean,
                delta_ci95=test.diff.ci,
                t=test.t,
                p=test.p,
                mark=stats.significance_mark(test.p),
                note=test.note,
                diff=test.diff,
            )
    return row


#: What a cell of a role the runs did not train shows (the student-only baseline's teachers).
NOT_TRAINED = 'not trained'


#: What an expert cell shows instead of "± 0.00": one frozen expert per dataset serves every seed.
ONE_EXPERT = 'one expert'
#: The legend's sentence for those cells.
ONE_EXPERT_NOTE = ('Expert cells "(one expert)": one frozen expert per dataset is trained once and reused by '
                   'every seed, so its variance over seeds is not measured and no interval is shown (a '
                   '"± 0.00" would claim it was).')


def is_one_expert(row: dict) -> bool:
    """An expert cell whose seeds all hold one value: the same expert reused, not a measured zero spread."""
    s = row['summary']
    return row['role'] == 'expert' and s.n > 1 and s.std == 0.0


def expert_cell(values: list[float], digits: int = 1, scale: float = 100.0) -> str:
    """An expert column's cell from its per-seed values: ``"45.5 (one expert)"`` when every seed holds the
    same value (one expert reused), else the usual mean ± 95% CI (n)."""
    if len(values) > 1 and len(set(values)) == 1:
        return f'{values[0] * scale:.{digits}f} ({ONE_EXPERT})'
    return stats.format_cell(stats.summarize(list(values)), digits=digits, scale=scale)


def _cell(row: dict, config: Configuration | None = None) -> str:
    if config is not None and row['role'] in config.untrained_roles and not row['n']:
        return NOT_TRAINED
    if is_one_expert(row):
        return f'{row["summary"].mean * 100:.2f} ({ONE_EXPERT})'
    return stats.format_cell(row['summary']) + row['mark']


def cell_notes(rows: list[tuple[str, str, dict]]) -> list[str]:
    """Undefined tests, each with the cells it concerns: ``[(row label, column label, cell), ...]`` ->
    ``zero variance: every seed has the same difference (Δ teacher − expert: ds0 (top1), mean)``."""
    by_note: dict[str, list[str]] = {}
    for row_label, col_label, cell in rows:
        if cell['note']:
            by_note.setdefault(cell['note'], []).append(f'{row_label}: {col_label}')
    return [f"{note} ({', '.join(cells)})" for note, cells in by_note.items()]


def _delta_cell(row: dict) -> str:
    if row['diff'] is None:
        return '-'
    text = stats.format_cell(row['diff'], signed=True) + row['mark']
    return text + (' (no test)' if row['note'] and row['diff'].n >= 2 else '')


def _tidy(rows: list[dict], **extra) -> list[dict]:
    drop = ('summary', 'diff')
    return [{**extra, **{k: v for k, v in r.items() if k not in drop}} for r in rows]


def column_labels(datasets: dict[str, str]) -> dict[str, str]:
    return {**{d: f'{d} ({m})' for d, m in datasets.items()}, MEAN: MEAN}


def main_table(frame: pd.DataFrame, run_set: RunSet, config: Configuration,
               baselines: dict[str, Configuration] | None = None) -> Table:
    """The paper's table: expert, student, teacher rows; datasets and their mean as columns; deltas.

    ``baselines`` (``selection.baselines``) add their students as rows (``student, gamma = 0``, ...) with
    their deltas against the expert of their own runs.
    """
    labels = column_labels(run_set.datasets)
    cols = list(labels)
    disp, tidy = [], []
    cells = {role: {col: cell_stats(frame, config.key, role, col) for col in cols} for role in ROLES}
    for role in ROLES:
        disp.append({'': ROW_LABELS[role], **{labels[c]: _cell(cells[role][c], config) for c in cols}})
        tidy += _tidy(list(cells[role].values()), table='main', config=config.label)
    base = {name: {col: cell_stats(frame, c.key, 'student', col) for col in cols}
            for name, c in (baselines or {}).items()}
    for name, row in base.items():
        disp.append({'': f'{name} (baseline)', **{labels[c]: _cell(row[c]) for c in cols}})
        tidy += _tidy(list(row.values()), table='main', config=baselines[name].label)
    noted = []
    for role in ('student', 'teacher'):
        disp.append({'': f'Δ {role} − expert', **{labels[c]: _delta_cell(cells[role][c]) for c in cols}})
        noted += [(f'Δ {role} − expert', labels[c], cells[role][c]) for c in cols]
    for name, row in base.items():
        disp.append({'': f'Δ {name} − expert', **{labels[c]: _delta_cell(row[c]) for c in cols}})
        noted += [(f'Δ {name} − expert', labels[c], row[c]) for c in cols]
    one_expert = any(is_one_expert(cells['expert'][c]) for c in cols)
    return Table(
        'main',
        f'Main results ({config.label}), test split, in percent',
        pd.DataFrame(disp),
        pd.DataFrame(tidy),
        cell_notes(noted),
        one_expert=one_expert,
    )


def _fmt_value(v) -> str:
    return '-' if v is None else (f'{v:g}' if isinstance(v, float) else str(v))


def value_key(config: Configuration, dimensions: list[str]) -> tuple[str, ...]:
    """The configuration's values of the dimensions, as display strings."""
    return tuple(_fmt_value(config.params.get(d)) for d in dimensions)


def ordered_groups(configs: list[Configuration], dimensions: list[str]) -> list[tuple[tuple, list]]:
    """Configurations grouped by their dimension values, in value order (numbers ascending)."""
    from jedi_repro.reporting.selection import sort_values

    rank = {
        d: {_fmt_value(v): i for i, v in enumerate(sort_values([c.params.get(d) for c in configs]))}
        for d in dimensions
    }
    groups: dict[tuple, list] = {}
    for c in configs:
        groups.setdefault(value_key(c, dimensions), []).append(c)
    return sorted(groups.items(), key=lambda kv: tuple(rank[d][v] for d, v in zip(dimensions, kv[0])))


def ablation_table(
    frame: pd.DataFrame, run_set: RunSet, study: str, dimensions: list[str], configs: list[Configuration]
) -> Table:
    """A study over one dimension (or a full grid of several): for each value, expert/student/teacher
    rows with the main table's statistics and the paired difference of the mean column.

    Args:
        dimensions: the study's dimensions (one column each).
        configs: the study's configurations.
    """
    labels = column_labels(run_set.datasets)
    cols = list(labels)
    disp, tidy, noted, one_expert = [], [], [], False
    for key, group in ordered_groups(configs, dimensions):
        for c in group:
            for role in ROLES:
                cells = {col: cell_stats(frame, c.key, role, col) for col in cols}
                row = {
                    **dict(zip(dimensions, key)),
                    'role': role,
                    **{labels[col]: _cell(cells[col], c) for col in cols},
                    'Δ mean vs expert': _delta_cell(cells[MEAN]) if role != 'expert' else '',
                }
                if len(group) > 1:
                    row['role'] = f'{role} ({c.label})'
                disp.append(row)
                tidy += _tidy(
                    list(cells.values()),
                    table=f'ablation:{study}',
                    config=c.label,
                    **dict(zip(dimensions, key)),
                )
                noted += [(f'{" / ".join(key)} {row["role"]}', labels[col], cells[col]) for col in cols]
                one_expert |= any(is_one_expert(cells[col]) for col in cols if role == 'expert')
    title = f'Ablation of {" × ".join(dimensions)} in study {study}, test split, in percent'
    return Table(_safe(f'ablation_{study}'), title, pd.DataFrame(disp), pd.DataFrame(tidy), cell_notes(noted),
                 one_expert=one_expert)


def search_table(
    frame: pd.DataFrame,
    run_set: RunSet,
    study: str,
    dimensions: list[str],
    configs: list[Configuration],
    top: int = 10,
) -> Table:
    """A search over several dimensions: its best configurations by the students' mean metric."""
    from jedi_repro.reporting.selection import score

    scores = {c.key: score(frame, c) for c in configs}
    ranked = sorted(configs, key=lambda c: -scores[c.key] if not math.isnan(scores[c.key]) else math.inf)
    disp, tidy = [], []
    for c in ranked[:top]:
        st = cell_stats(frame, c.key, 'student', MEAN)
        te = cell_stats(frame, c.key, 'teacher', MEAN)
        disp.append(
            {
                'configuration': c.label,
                **{d: _fmt_value(c.params.get(d)) for d in dimensions},
                'student mean': _cell(st),
                'Δ student − expert': _delta_cell(st),
                'teacher mean': _cell(te, c),
                'Δ teacher − expert': _delta_cell(te),
            }
        )
        tidy += _tidy([st, te], table=f'search:{study}', config=c.label)
    title = (f'Search {study}: the {min(top, len(ranked))} best of {len(ranked)} configurations, test split, '
             'in percent')
    return Table(_safe(f'search_{study}'), title, pd.DataFrame(disp), pd.DataFrame(tidy))


def _safe(name: str) -> str:
    return ''.join(ch if ch.isalnum() or ch in '-_.' else '_' for ch in name)
