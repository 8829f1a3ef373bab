"""``write_report``: MLflow runs -> ``report.md``, ``figures/*.png``, ``tables/*.csv``, ``tables/*.tex``.

The report is built in a temporary directory next to the target and renamed over it at the end, so a
failed report never leaves a half-written directory behind.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

from jedi_repro import aggregates
from jedi_repro.errors import JediError
from jedi_repro.reporting import figures, paper_reference, provenance, selection, stats, tables
from jedi_repro.reporting.optuna_info import summarize_study
from jedi_repro.reporting.runs import ROLES, RunSet, load_run_set
from jedi_repro.reporting.writers import markdown_table, md_escape, write_table
from jedi_repro.workspace import portable_text

LABEL_FRACTION = 'data.labeled_fraction'


def write_report(
    out_dir,
    studies: list[str] | None = None,
    experiment: str | None = None,
    run_ids: list[str] | None = None,
    title: str | None = None,
    tracking_uri: str | None = None,
    optuna_storage: str | None = None,
    argv: list[str] | None = None,
    default_config: str | Path | None = None,
    extra_sections: list[str] | None = None,
    attach: bool = True,
) -> Path:
    """Write a report from MLflow runs; exactly one of ``studies``, ``experiment``, ``run_ids``.

    Args:
        out_dir: the report directory (replaced as a whole; refused if it exists and is not a report).
        studies: study names (each an MLflow experiment of the same name); several make one report.
        experiment: an MLflow experiment name (e.g. ``jedi-train``).
        run_ids: MLflow run ids (study, trial or seed runs; children are followed).
        title: the report's title.
        tracking_uri: MLflow tracking URI (default: ``jedi_repro.workspace.mlflow_uri()``).
        optuna_storage: Optuna storage URL or journal file (default: each study's workspace journal).
        argv: the command that produced the report, for the rerun section.
        default_config: the config that defines the paper configuration (default:
            ``mm_configs/jedi/jedi_default.py``; built-in paper values when it is missing).
        extra_sections: Markdown lines a caller adds before the reference and provenance sections (e.g.
            ``jedi demo``'s probes of what each student's input features hold).
        attach: log into every covered run (seed, trial, study parent) the report's sections about it, as
            the artifact ``report/<out name>/report.md``, and point to it from the run's description
            (:mod:`jedi_repro.reporting.attach`). The report is only written once that succeeded.

    Returns:
        The report directory (``out_dir``), containing ``report.md``.

    Raises:
        JediError: a missing study/experiment/run, unusable runs, or an output directory that cannot be
            replaced.
    """
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / 'report.md').is_file())):
        raise JediError(
            f'refusing to replace {out}: it exists and is not a report directory (no report.md); '
            'choose another --out'
        )
    run_set, src = load_run_set(studies, experiment, run_ids, tracking_uri)
    if argv is None:
        argv = ['jedi', 'report', *' '.join(run_set.source).split(), '--out', str(out_dir)]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out.name}.tmp-', dir=out.parent))
    try:
        doc, frame = _build(tmp, run_set, src, title or 'JEDI report', optuna_storage, argv, default_config,
                            extra_sections or [])
        if attach:
            _attach(src, run_set, doc, frame, tmp, out, str(out_dir))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; a report is for sharing
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _attach(src, run_set: RunSet, doc: Document, frame, root: Path, out: Path, shown: str) -> None:
    from jedi_repro.reporting.attach import attach

    try:
        attach(src.client, run_set, doc, frame, root, out.name, portable_text(shown))
    except JediError:
        raise
    except Exception as exc:  # noqa: BLE001 - a read-only or unreachable tracking store, named below
        raise JediError(
            f'could not log the report\'s sections into its runs at {src.uri} ({type(exc).__name__}: '
            f'{str(exc).splitlines()[0] if str(exc) else exc!r}); nothing was written. Pass --no-attach to '
            'write the report without touching the runs'
        ) from None


def _replace_dir(new: Path, target: Path) -> None:
    """Rename ``new`` over ``target``; an old report is moved aside first and removed afterwards."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f'.{target.name}.old-', dir=target.parent))
        os.rename(target, old / 'report')
    try:
        os.rename(new, target)
    except OSError:
        if old is not None:
            os.rename(old / 'report', target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class Document:
    """The report as parts, each tagged with the configurations it concerns, so that every run can carry
    the sections about it (:mod:`jedi_repro.reporting.attach`).

    Args:
        title: the report's title.
        generated: when, in words (UTC).
    """

    def __init__(self, title: str, generated: str):
        self.title, self.generated = title, generated
        self.parts: list[tuple[frozenset[str] | None, list[str]]] = []

    def add(self, lines: list[str], concerns=None) -> None:
        """Append ``lines``; ``concerns``: configuration keys (None: every run; empty: no run)."""
        self.parts.append((None if concerns is None else frozenset(concerns), list(lines)))

    def markdown(self, keys: str | list[str] | None = None) -> str:
        """The whole report (``keys=None``), or the parts that concern configuration(s) ``keys``."""
        wanted = None if keys is None else {keys} if isinstance(keys, str) else set(keys)
        lines = [f'# {self.title}', ''] if wanted is None else []
        for concerns, part in self.parts:
            if wanted is None or concerns is None or wanted & concerns:
                lines += part
        # a report is shared: no absolute path of this machine (workspace, checkout, home) in it
        return portable_text('\n'.join(lines))


def _build(
    root: Path, run_set: RunSet, src, title: str, optuna_storage: str | None, argv: list[str], default_config,
    extra_sections: list[str],
) -> tuple[Document, pd.DataFrame]:
    """Write ``report.md``, figures and tables into ``root``; return the document and its test frame."""
    figs, tabs = root / 'figures', root / 'tables'
    frame = tables.long_frame(run_set)
    val_frame = tables.long_frame(run_set, split='val')  # every choice below is made on this
    defaults, defaults_src = selection.load_defaults(default_config)
    by_study = {s: [c for c in run_set.configurations if c.study == s] for s in run_set.studies}
    by_study = {s: cs for s, cs in by_study.items() if cs}
    dims = {s: selection.study_dimensions(cs) for s, cs in by_study.items()}
    all_dims = list(dict.fromkeys(d for ds in dims.values() for d in ds))
    paper, why = selection.paper_configuration(run_set, val_frame, defaults, all_dims)
    doc = Document(title, _dt.datetime.now(_dt.UTC).strftime('%Y-%m-%d %H:%M UTC'))
    doc.add([
        f'Generated {doc.generated} from {len(frame.run_id.unique())} seed runs in '
        f'{len(run_set.configurations)} configurations ({"; ".join(run_set.source)}), '
        f'MLflow `{src.uri}`.',
        '',
        f'Protocol: {PROTOCOL}',
        '',
    ])

    base = selection.baselines(run_set.configurations, paper)
    in_main = [paper.key, *(c.key for c in base.values())]
    main = tables.main_table(frame, run_set, paper, base)
    write_table(main, tabs)
    doc.add(['## Summary', '', *_summary(main, paper), *_against_baselines(frame, paper, base),
             *_convergence(run_set), ''], in_main)
    doc.add([
        '## Main results',
        '',
        f'Configuration: **{paper.label}**, chosen because {why}.',
        _params_line(paper, all_dims),
        *([''] + [f'Baseline rows: {name}: **{c.label}**.' for name, c in base.items()] if base else []),
        '',
        markdown_table(main.display),
        '',
        *_legend(main, paper),
        '',
    ], in_main)

    curves = _learning_curves(src, run_set, paper, figs)
    if curves:
        doc.add([
            '### Learning curves',
            '',
            f'![Validation metric per epoch]({curves})',
            '',
            'Validation metric per epoch for each role (**validation split**, each dataset\'s primary '
            'metric, %), mean over the seeds that reached that epoch, with a 95% band (clipped to the '
            "metric's range, 0-100%) only where two or more seeds remain; dashed: one seed left (not a "
            'mean). Seeds stop at different epochs (validation plateau): the grey step line (right axis) '
            'counts the seeds each epoch averages. Dotted lines: the epochs whose checkpoints were tested '
            "(students in the student colour, teachers in the teacher's), chosen on validation.",
            '',
        ], [paper.key])
    else:
        doc.add([
            'No per-epoch validation metrics (`val/...` with steps) were logged for these runs, so there '
            'are no learning curves.',
            '',
        ], [paper.key])

    searches: list[str] = []
    for study, cs in by_study.items():
        keys = [c.key for c in cs]
        if selection.is_grid(cs, dims[study]):
            doc.add(_ablation_section(frame, run_set, study, dims[study], cs, tabs, figs), keys)
        elif dims[study]:
            searches.append(study)
            t = tables.search_table(frame, run_set, study, dims[study], cs)
            write_table(t, tabs)
            doc.add([
                f'## Search: {study}',
                '',
                f'Dimensions: {", ".join(f"`{d}`" for d in dims[study])}.',
                '',
                markdown_table(t.display),
                '',
                table_files(t.name),
                '',
            ], keys)

    doc.add(_best_and_optuna(frame, val_frame, run_set, by_study, dims, searches, optuna_storage, tabs, figs))
    doc.add(extra_sections, ())
    doc.add(_reference_section(tabs), ())
    doc.add(_provenance_section(run_set, argv, defaults_src))
    notes = list(run_set.notes)
    if notes:
        doc.add(['## Notes', '', *[f'- {n}' for n in notes], ''])
    (root / 'report.md').write_text(doc.markdown(), encoding='utf-8')
    return doc, frame


def rerun_note() -> str:
    """Said once under every report's rerun commands: what ``$JEDI_HOME`` and relative paths mean."""
    from jedi_repro.resources import shipped_root

    root = shipped_root()
    where = ('the jedi_repro checkout' if root.name != '.mim' else
             'the installed package\'s shipped files (`python -c "import jedi_repro.resources as r; '
             'print(r.shipped_root())"`; `jedi demo` and `jedi study run` find mm_configs/ and studies/ '
             'there)')
    return f'# $JEDI_HOME = the workspace root (default ./jedi_work); relative paths are relative to {where}'

#: One sentence on how the numbers of every report were chosen (printed at the top).
PROTOCOL = (
    'every choice (each role\'s checkpoint, Optuna trial values and pruning, the main and best '
    'configurations) is made on the validation split; test figures are reported for what was chosen, '
    'never used to choose. Students (and experts) are tested at the epoch of their best validation mean of '
    "each dataset's primary metric (top-1, or mAP where the dataset declares it: `mean/student/primary`), "
    'teachers at theirs (`mean/teacher/primary`); a run stops once neither improved for `patience` epochs '
    '(ValPlateauHook). The same mean is every table\'s "mean" column, the Optuna objective and the MLflow '
    'parent run\'s `best/...`.'
)


def _against_baselines(frame, paper, base: dict) -> list[str]:
    """JEDI's students against each baseline's students, paired by seed (mean over datasets)."""
    out = []
    jedi = tables.seed_values(frame, paper.key, 'student', tables.MEAN)
    for name, c in base.items():
        other = tables.seed_values(frame, c.key, 'student', tables.MEAN)
        seeds = sorted(set(jedi) & set(other))
        if len(seeds) < 2:
            out.append(f'- JEDI students vs {name}: fewer than 2 common seeds, no test.')
            continue
        test = stats.paired_t_test([jedi[s] for s in seeds], [other[s] for s in seeds])
        d = test.diff.mean * 100
        out.append(
            f'- JEDI students vs {name} ({c.label}), paired by seed: '
            f'{"+" if d >= 0 else ""}{d:.2f} points (95% CI ±{test.diff.ci * 100:.2f}, n = {test.diff.n}; '
            f'paired t-test p = {_pval(test.p)}{"" if test.p is not None else ", " + test.note}).'
        )
    return out


def _convergence(run_set: RunSet) -> list[str]:
    """A line on the runs that stopped at ``max_epochs`` with validation still improving."""
    runs = [s for c in run_set.configurations for s in c.seeds]
    known = [s for s in runs if s.converged is not None]
    if not known:
        return ['- Convergence: not recorded by these runs (no `jedi.converged` tag).']
    bad = [c for c in run_set.configurations if any(s.converged is False for s in c.seeds)]
    if not bad:
        return [f'- Convergence: all {len(known)} seed runs reached a validation plateau.']
    n_bad = sum(s.converged is False for s in known)
    return [
        f'- **Not converged**: {n_bad} of {len(known)} seed runs reached `train_cfg.max_epochs` while '
        f'validation was still improving ({", ".join(c.label for c in bad)}); their numbers may '
        'understate what longer training gives.'
    ]


def _fmt_param(v) -> str:
    return f'{v:g}' if isinstance(v, float) else str(v)


def _params_line(c, dims: list[str]) -> str:
    # the reduction beside gamma: it says which reading of gamma a run used (README, "Protocol")
    keys = list(dict.fromkeys([*dims, 'model.gamma', 'model.kd_reduction', 'model.fusion.type',
                               'model.kd_loss.type']))
    shown = [f'`{k}={_fmt_param(c.params[k])}`' for k in keys if k in c.params]
    return ('Parameters: ' + ', '.join(shown) + '.') if shown else 'Parameters: none recorded.'


def _pval(p: float | None) -> str:
    return 'n/a' if p is None else (f'{p:.3f}' if p >= 0.001 else '< 0.001')


def _summary(main: tables.Table, config) -> list[str]:
    """Computed sentences: do students and teachers beat experts, by how much, with what interval."""
    out = []
    num = main.numeric
    for role in ('student', 'teacher'):
        r = num[(num.role == role) & (num.column == tables.MEAN)]
        if not len(r) or r.iloc[0]['delta'] is None or pd.isna(r.iloc[0]['delta']):
            out.append(f'- {role.capitalize()}s vs experts: no paired values.')
            continue
        r = r.iloc[0]
        d, ci, n, p = r['delta'] * 100, r['delta_ci95'], int(r['n']), r['p']
        ci_txt = 'no interval (one seed)' if ci is None or pd.isna(ci) else f'95% CI ±{ci * 100:.2f}'
        p = None if p is None or pd.isna(p) else float(p)
        verdict = (
            f'higher by {d:.2f} points'
            if d >= 0.005
            else f'lower by {-d:.2f} points'
            if d <= -0.005
            else 'the same to 0.01 points'
        )
        sig = (
            'significant at 0.05'
            if p is not None and p < 0.05
            else 'not significant at 0.05'
            if p is not None
            else r['note'] or 'no test'
        )
        out.append(
            f'- {role.capitalize()}s vs experts (mean over datasets): {verdict} '
            f'({ci_txt}, n = {n} seeds; paired t-test p = {_pval(p)}, {sig}).'
        )
    return out


def table_files(name: str) -> str:
    """The line under a table: its machine files (CSV: fractions, as in metrics.json) and LaTeX."""
    return f'[CSV](tables/{name}.csv) (fractions in [0, 1], not percent) · LaTeX: `tables/{name}.tex`'


def _legend(t: tables.Table, config) -> list[str]:
    n = len(config.seeds)
    power = stats.paired_t_power(n, 1.0)
    lines = [
        '**Test split.** Cells: mean ± half-width of the 95% confidence interval (Student t over seeds) '
        '(number of seeds), in percent; a cell without ± has one seed, so no interval. Columns: top-1 '
        'accuracy, or mAP where the dataset declares it; "mean" averages those per run before the '
        'statistics. '
        f'Marks: {stats.PAIRED_TEST_NAME} of student or teacher against the expert of the same runs; '
        '`*` p < 0.05, `**` p < 0.01. Δ rows: mean paired difference (points) with its 95% interval.'
    ]
    if power is not None:
        lines.append(
            f'With {n} seeds this test has low power: a true difference of one standard deviation '
            f'of the per-seed differences is detected with probability {power:.2f}. No mark does not '
            'mean no effect.'
        )
    if t.one_expert:
        lines.append(tables.ONE_EXPERT_NOTE)
    if t.notes:
        lines.append('Tests not defined: ' + '; '.join(t.notes) + '.')
    lines.append(table_files(t.name))
    return ['', *[x for line in lines for x in (line, '')]][1:-1]


def _learning_curves(src, run_set: RunSet, config, figs: Path) -> str | None:
    history: dict = {}
    for d, metric in run_set.datasets.items():
        for role in ROLES:
            history.setdefault(d, {})[role] = [
                src.metric_history(s.run_id, f'val_epoch/{d}/{role}/{metric}')
                # runs logged before the curves moved to val_epoch/ kept them under val/
                or src.metric_history(s.run_id, f'val/{d}/{role}/{metric}')
                for s in config.seeds
            ]
    selected: dict[str, list[int]] = {}
    for s in config.seeds:
        try:
            chosen = json.loads(s.tags.get('jedi.selection') or '{}')
        except json.JSONDecodeError:
            chosen = {}
        for role in ('student', 'teacher'):
            if isinstance(chosen.get(role), dict) and chosen[role].get('epoch') is not None:
                selected.setdefault(role, []).append(int(chosen[role]['epoch']))
    path = figures.learning_curves(
        history,
        run_set.datasets,
        figs / 'learning_curves.png',
        f'{config.label}: validation metric per epoch',
        selected=selected,
    )
    return 'figures/learning_curves.png' if path else None


def _ablation_section(frame, run_set, study, dims: list[str], cs, tabs: Path, figs: Path) -> list[str]:
    t = tables.ablation_table(frame, run_set, study, dims, cs)
    write_table(t, tabs)
    groups = tables.ordered_groups(cs, dims)

    def summary(group, role):
        return stats.summarize(
            [x for c in group for x in tables.role_values(frame, c.key, role, tables.MEAN).tolist()]
        )

    # a role no configuration of the study trained (the baseline's teachers) gets no bar
    summ = {role: [summary(g, role) for _, g in groups] for role in ROLES
            if not all(role in c.untrained_roles for c in cs)}
    labels = [' / '.join(k) for k, _ in groups]
    name = ' × '.join(f'`{d}`' for d in dims)
    md = [f'## Ablation: {name} (study {study})', '', markdown_table(t.display), '']
    if t.one_expert:
        md += [tables.ONE_EXPERT_NOTE, '']
    if t.notes:
        md += ['Tests not defined: ' + '; '.join(t.notes) + '.', '']
    md += [table_files(t.name), '']
    if all(s.n for ss in summ.values() for s in ss):
        fig = figures.ablation_bars(
            labels,
            summ,
            figs / f'{t.name}.png',
            ' / '.join(dims),
            'test, mean over datasets (%)',
            f'{study}: {" × ".join(dims)}',
        )
        md += [
            f'![Ablation of {" x ".join(dims)}](figures/{fig.name})',
            '',
            '**Test split.** Mean over datasets of each dataset\'s primary metric, %; bars: mean over seeds, '
            'error bars: 95% CI. **The y axis does not start at 0** (the figure says where it starts): '
            'compare the bar tops and their intervals, not the bar heights.',
            '',
        ]
    else:
        md += [
            'No bar chart: some configurations lack a value for every dataset, so no mean over datasets.',
            '',
        ]
    if LABEL_FRACTION in dims:
        md += _label_fraction(frame, study, dims, cs, figs)
    return md


def _label_fraction(frame, study, dims: list[str], cs, figs: Path) -> list[str]:
    """Metric against the labelled fraction: the expert once, students and teachers per other setting."""
    others = [d for d in dims if d != LABEL_FRACTION]
    fractions = selection.sort_values([c.params.get(LABEL_FRACTION) for c in cs])
    if not all(isinstance(f, (int, float)) for f in fractions):
        return []
    series = {}
    settings = tables.ordered_groups(cs, others) if others else [((), cs)]
    for role in ROLES:
        for key, group in settings[:1] if role == 'expert' else settings:
            xs, ys = [], []
            for f in fractions:
                vals = [
                    x
                    for c in group
                    if selection.same_value(c.params.get(LABEL_FRACTION), f)
                    for x in tables.role_values(frame, c.key, role, tables.MEAN).tolist()
                ]
                if vals:
                    xs.append(float(f))
                    ys.append(stats.summarize(vals))
            label = role + (
                ''
                if role == 'expert' or not others
                else ' (' + ', '.join(f'{d.split(".")[-1]}={v}' for d, v in zip(others, key)) + ')'
            )
            if xs:
                series[label] = (xs, ys)
    fig = figures.label_fraction_curve(
        series,
        figs / f'label_fraction_{tables._safe(study)}.png',
        'mean over datasets (%)',
        f'{study}: accuracy vs labelled fraction',
    )
    return [
        f'![Label-fraction curve](figures/{fig.name})',
        '',
        'Mean over datasets against the fraction of labelled training samples; error bars: 95% CI.',
        '',
    ]


def _best_and_optuna(
    frame, val_frame, run_set, by_study, dims, searches, storage, tabs: Path, figs: Path
) -> list[str]:
    md = ['## Best configuration', '']
    rows = []
    for study, cs in by_study.items():
        objectives = selection.study_objectives(run_set, study)
        single = len(cs) == 1 and not dims[study]
        for metric, direction in objectives:
            best, value = selection.best_by_objective(val_frame, cs, metric, direction)
            if best is None:
                continue
            role = metric.split('/')[1]
            chosen_on = tables.cell_stats(val_frame, best.key, role, tables.MEAN)
            st = tables.cell_stats(frame, best.key, role, tables.MEAN)
            params = ', '.join(f'{k}={_fmt_param(best.params[k])}' for k in dims[study] if k in best.params)
            rows.append(
                {
                    'study': study,
                    'chosen by': 'one configuration (no choice)' if single else
                    f'{"highest" if direction == "maximize" else "lowest"} val/{metric}'
                    + (f' (objective {objectives.index((metric, direction)) + 1} of {len(objectives)})'
                       if len(objectives) > 1 else ''),
                    'best configuration': best.label,
                    'parameters': params or '-',
                    'value, val, % (mean over seeds)': aggregates.pct(value),
                    f'{role} mean, val': stats.format_cell(chosen_on['summary']),
                    f'{role} mean, test': stats.format_cell(st['summary']) + st['mark'],
                    f'Δ {role} − expert, test': tables._delta_cell(st),
                }
            )
    table = pd.DataFrame(rows)
    md += [
        'Best = the best mean over seeds of the study\'s objective on VALIDATION: the value Optuna holds '
        'for the trial and the MLflow parent run\'s `best/...` metric. Objectives `mean/{role}/primary` '
        'are each role\'s mean of each dataset\'s primary metric '
        f'({aggregates.metric_words(run_set.datasets)}), the "mean" column of every table. A study with '
        'several objectives has one best per objective (Optuna keeps a Pareto front, not one best trial). '
        'Test figures are reported, not used to choose.',
        '',
        markdown_table(table.fillna('')),
        '',
    ]
    for study in by_study:
        if study not in run_set.parents:
            continue
        info = summarize_study(study, storage, importance=study in searches)
        if not info.loaded:
            md += [f'Optuna ({study}): {"; ".join(info.notes)}.', '']
            continue
        md += [_optuna_line(study, info, run_set.datasets), '']
        if info.importances:
            imp = pd.DataFrame(
                {'parameter': list(info.importances), 'importance': list(info.importances.values())}
            )
            name = tables._safe(f'importance_{study}')
            imp.to_csv(tabs / f'{name}.csv', index=False, float_format='%.6g')
            fig = figures.importance_bars(
                info.importances, figs / f'{name}.png', f'{study}: parameter importance'
            )
            md += [
                f'![Parameter importances of {study}](figures/{fig.name})',
                '',
                markdown_table(imp.assign(importance=imp.importance.map(lambda v: f'{v:.3f}'))),
                '',
                f'fANOVA importances (Optuna, seed 0) of the first objective (`val/{info.metrics[0]}`); '
                'with few trials they are rough.',
                '',
            ]
        for n in info.notes:
            md += [f'Optuna ({study}): {n}.', '']
    return md


def _optuna_line(study: str, info, datasets: dict[str, str]) -> str:
    """The Optuna study's best trial per objective, in the words of the console and the parent run."""
    head = f'Optuna study `{study}` ({info.storage}): '
    bests = [b for b in info.bests if b is not None]
    if not bests:
        return head + f'{info.n_complete} completed trials.'
    if info.single_point:
        return head + 'one configuration, nothing searched (a baseline); ' + '; '.join(
            b.line(datasets, single=True) for b in bests) + '.'
    return head + f'{info.n_complete} completed trials; ' + '; '.join(b.line(datasets) for b in bests) + '.'


def _reference_section(tabs: Path) -> list[str]:
    ref = pd.DataFrame(
        paper_reference.ENTRIES, columns=['quantity', 'reported in the paper', 'source / status']
    )
    ref.to_csv(tabs / 'paper_reference.csv', index=False)
    src = paper_reference.SOURCE
    return [
        '## Reported in the paper, not reproduced here',
        '',
        f"From [{src['title']}]({src['url']}) (arXiv:{src['arxiv']}). These are the paper's statements, "
        "not results of this harness; no number from the paper's results tables is given because none "
        'could be verified from its text here.',
        '',
        markdown_table(ref),
        '',
    ]


def _provenance_section(run_set: RunSet, argv: list[str], defaults_src: str) -> list[str]:
    p = provenance.run_provenance(run_set)
    versions = ', '.join(f'{k} {v}' for k, v in provenance.package_versions(provenance.PACKAGES).items())
    md = [
        '## Provenance',
        '',
        '- Code of the runs (`jedi.git_sha`): '
        + (', '.join(f'`{s}`' for s in p['git_shas']) or 'not recorded'),
        f'- Code of this report: `{provenance.git_state()}`',
        f'- Feature stores (`jedi.features_hash`): '
        f'{", ".join(f"`{h}`" for h in p["features_hashes"]) or "not recorded"}',
        '- Machine of the runs (`jedi.cpu`): ' + (', '.join(f'`{c}`' for c in p['cpus']) or 'not recorded')
        + f'; of this report: `{provenance.cpu_kind()}`. Same command, same numbers holds on one CPU kind '
        '(README, "Same command, same numbers: the CPU kind").',
        f'- Default configuration compared against: {md_escape(defaults_src)}',
        f'- Python {sys.version.split()[0]}; {versions}',
        '',
        markdown_table(pd.DataFrame(p['configs'], columns=['configuration', 'seeds', 'config hash'])),
        '',
        'Rerun:',
        '',
        '```sh',
        *provenance.rerun_commands(run_set, argv),
        rerun_note(),
        '```',
        '',
    ]
    return md
