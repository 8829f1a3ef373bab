"""The regime map's report: ``results.csv`` (one row per seed run), paired deltas, figures, diagnostic.

Every number is read from the seed runs' ``metrics.json`` under ``$JEDI_HOME/work_dirs/regimes_*`` (test
split; each role at the checkpoint its own validation selected) and from ``jedi diagnose`` on each cell's
store (validation split). Deltas are paired by seed (the same seed draws the same batches and
initialisation in both variants): mean and Student-t 95% interval of the per-seed differences
(``jedi_repro.reporting.stats``).
"""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from jedi_repro.benchmarks import regimes as R
from jedi_repro.workspace import portable_text

VARIANT_LABEL = {'jedi': 'JEDI', 'gamma0': 'gamma=0', 'student': 'student-only', 'own': 'kd_pool=own',
                 'others': 'kd_pool=others'}
ROLES = ('expert', 'student', 'teacher')


def _log(msg: str) -> None:
    print(msg, flush=True)


def variant_of(study_variant: str, metrics: dict) -> str:
    """``jedi`` | ``gamma0`` | ``student`` | ``own`` | ``others`` of one seed run."""
    if study_variant == 'kd_pool':
        return (metrics.get('config') or {}).get('model', {}).get('kd_pool', 'all')
    return study_variant


def collect(mcfg) -> list[dict]:
    """One row per finished seed run of the map: cell, variant, seed, top-1 per role and dataset."""
    from jedi_repro import workspace
    rows = []
    for view, frac in R.cells(mcfg):
        for sv in R.cell_variants(mcfg, view):
            study = R.study_name(view, frac, sv)
            for f in sorted(workspace.work_dir(study).glob('trial_*/seed_*/metrics.json')):
                m = json.loads(f.read_text())
                conv = m.get('convergence') or {}
                row = dict(view=view, label_fraction=frac, cell=R.cell_name(view, frac),
                           variant=variant_of(sv, m), seed=int(m['seed']), study=study,
                           run=str(f.parent.relative_to(workspace.root())),
                           wall_s=round(m.get('wall_s', 0), 2),
                           epochs=conv.get('last_epoch'), plateau=bool(conv.get('stopped_early')),
                           reused=bool(m.get('reused_from')))
                for role in ROLES:
                    mean = (m.get('mean') or {}).get(role)
                    row[f'mean_{role}_top1'] = None if mean is None else mean['top1']
                    row[f'mean_{role}_mean_class'] = None if mean is None else mean['mean_class']
                for ds, per in (m.get('datasets') or {}).items():
                    for role in ROLES:
                        row[f'{ds}_{role}_top1'] = None if per.get(role) is None else per[role]['top1']
                rows.append(row)
    return rows


def _paired(frame, cell: str, a: str, b: str, col: str):
    """Paired test of variant a minus variant b (same seeds) on column ``col`` of one cell."""
    from jedi_repro.reporting import stats
    x = frame[(frame.cell == cell) & (frame.variant == a)].set_index('seed')[col].dropna()
    y = frame[(frame.cell == cell) & (frame.variant == b)].set_index('seed')[col].dropna()
    seeds = sorted(set(x.index) & set(y.index))
    if not seeds:
        return None
    return stats.paired_t_test([float(x[s]) for s in seeds], [float(y[s]) for s in seeds])


def _fmt(test) -> str:
    from jedi_repro.reporting import stats
    if test is None:
        return 'n/a'
    return stats.format_cell(test.diff, digits=1, signed=True) + stats.significance_mark(test.p)


def _mean(frame, cell, variant, col) -> str:
    from jedi_repro.reporting import stats
    v = frame[(frame.cell == cell) & (frame.variant == variant)][col].dropna()
    return stats.format_cell(stats.summarize(list(v)), digits=1) if len(v) else 'n/a'


def _expert(frame, cell, col) -> str:
    """An expert column: one expert per cell serves every seed, so no interval is shown."""
    from jedi_repro.reporting.tables import expert_cell
    v = frame[(frame.cell == cell) & (frame.variant == 'jedi')][col].dropna()
    return expert_cell(list(v)) if len(v) else 'n/a'


def main_rows(frame, mcfg) -> list[dict]:
    """Per cell: the students' and teachers' top-1 under each variant and the paired deltas (points)."""
    rows = []
    for view, frac in R.cells(mcfg):
        cell = R.cell_name(view, frac)
        if frame[frame.cell == cell].empty:
            continue
        rows.append({
            'view': view, 'labels': f'{frac:.0%}',
            'expert': _expert(frame, cell, 'mean_expert_top1'),
            'student JEDI': _mean(frame, cell, 'jedi', 'mean_student_top1'),
            'student gamma=0': _mean(frame, cell, 'gamma0', 'mean_student_top1'),
            'student-only': _mean(frame, cell, 'student', 'mean_student_top1'),
            'teacher JEDI': _mean(frame, cell, 'jedi', 'mean_teacher_top1'),
            'students: JEDI - gamma=0': _fmt(_paired(frame, cell, 'jedi', 'gamma0', 'mean_student_top1')),
            'students: JEDI - student-only': _fmt(_paired(frame, cell, 'jedi', 'student',
                                                          'mean_student_top1')),
            'students: JEDI - expert': _fmt(_vs_expert(frame, cell, 'jedi', 'student')),
            'teachers: JEDI - gamma=0': _fmt(_paired(frame, cell, 'jedi', 'gamma0', 'mean_teacher_top1')),
            'teachers: JEDI - expert': _fmt(_vs_expert(frame, cell, 'jedi', 'teacher')),
        })
    return rows


def _vs_expert(frame, cell, variant, role):
    """Paired role minus expert within the runs of one variant (the expert is the same every seed)."""
    from jedi_repro.reporting import stats
    g = frame[(frame.cell == cell) & (frame.variant == variant)].dropna(subset=[f'mean_{role}_top1'])
    if g.empty:
        return None
    return stats.paired_t_test(list(g[f'mean_{role}_top1']), list(g['mean_expert_top1']))


def pool_rows(frame, mcfg) -> list[dict]:
    """Per cell with the KD pool variants: own / others minus all (students and teachers)."""
    rows = []
    for view, frac in R.cells(mcfg):
        cell = R.cell_name(view, frac)
        if view not in mcfg.get('kd_pool_views', ()) or frame[frame.cell == cell].empty:
            continue
        rows.append({
            'view': view, 'labels': f'{frac:.0%}',
            'student all (JEDI)': _mean(frame, cell, 'jedi', 'mean_student_top1'),
            'student own': _mean(frame, cell, 'own', 'mean_student_top1'),
            'student others': _mean(frame, cell, 'others', 'mean_student_top1'),
            'students: own - all': _fmt(_paired(frame, cell, 'own', 'jedi', 'mean_student_top1')),
            'students: others - all': _fmt(_paired(frame, cell, 'others', 'jedi', 'mean_student_top1')),
            'students: own - gamma=0': _fmt(_paired(frame, cell, 'own', 'gamma0', 'mean_student_top1')),
            'teachers: own - all': _fmt(_paired(frame, cell, 'own', 'jedi', 'mean_teacher_top1')),
            'teachers: others - all': _fmt(_paired(frame, cell, 'others', 'jedi', 'mean_teacher_top1')),
        })
    return rows


def kd_gain_per_dataset(frame, mcfg) -> list[dict]:
    """Measured KD gain per cell and dataset: students' JEDI minus gamma=0 top-1 (points, paired)."""
    out = []
    datasets = [c[:-len('_student_top1')] for c in frame.columns
                if c.endswith('_student_top1') and not c.startswith('mean_')]
    for view, frac in R.cells(mcfg):
        cell = R.cell_name(view, frac)
        for ds in datasets:
            t = _paired(frame, cell, 'jedi', 'gamma0', f'{ds}_student_top1')
            if t is not None:
                out.append(dict(cell=cell, view=view, label_fraction=frac, dataset=ds, kd_gain=t.diff.mean,
                                kd_gain_ci=t.diff.ci, n=t.diff.n))
    return out


def per_dataset_rows(frame, mcfg) -> list[dict]:
    """Per cell: the students' JEDI - gamma=0 per dataset, and the teachers' and experts' top-1."""
    datasets = [c[:-len('_student_top1')] for c in frame.columns
                if c.endswith('_student_top1') and not c.startswith('mean_')]
    rows = []
    for view, frac in R.cells(mcfg):
        cell = R.cell_name(view, frac)
        if frame[frame.cell == cell].empty:
            continue
        row = {'view': view, 'labels': f'{frac:.0%}'}
        for ds in datasets:
            row[f'{ds}: expert'] = _expert(frame, cell, f'{ds}_expert_top1').split(' ')[0]
            row[f'{ds}: JEDI - gamma=0'] = _fmt(_paired(frame, cell, 'jedi', 'gamma0', f'{ds}_student_top1'))
        rows.append(row)
    return rows


def _md(rows: list[dict]) -> str:
    if not rows:
        return '_no runs yet_'
    cols = list(rows[0])
    align = '|'.join('---' if i < 2 else '---:' for i in range(len(cols)))
    lines = ['| ' + ' | '.join(cols) + ' |', f'|{align}|']
    lines += ['| ' + ' | '.join(str(r[c]) for c in cols) + ' |' for r in rows]
    return '\n'.join(lines)


# ------------------------------------------------------------------ figures
def delta_figure(frame, mcfg, role: str, path: Path) -> Path | None:
    """JEDI minus gamma=0 (mean over datasets) against the label fraction: one line per view, 95% band."""
    from matplotlib.figure import Figure

    from jedi_repro.reporting import figures
    fig = Figure(figsize=(5.6, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    drawn = False
    for k, view in enumerate(mcfg.views):
        xs, ms, lo, hi = [], [], [], []
        for frac in mcfg.label_fractions:
            t = _paired(frame, R.cell_name(view, float(frac)), 'jedi', 'gamma0', f'mean_{role}_top1')
            if t is None:
                continue
            ci = t.diff.ci or 0.0
            xs.append(float(frac) * 100)
            ms.append(t.diff.mean * 100)
            lo.append((t.diff.mean - ci) * 100)
            hi.append((t.diff.mean + ci) * 100)
        if not xs:
            continue
        drawn = True
        color = ('#1f77b4', '#d62728', '#2ca02c', '#9467bd')[k % 4]
        ax.plot(xs, ms, marker='o', color=color, label=f'{view} views')
        ax.fill_between(xs, lo, hi, color=color, alpha=0.2)
    if not drawn:
        return None
    ax.axhline(0, color='k', lw=0.8)
    ax.set_xscale('log')
    ticks = [float(f) * 100 for f in mcfg.label_fractions]
    ax.set_xticks(ticks, [f'{t:g}' for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel('labelled fraction (%, log scale)')
    ax.set_ylabel(f'{role}s: JEDI - gamma=0 top-1 (points)')
    ax.set_title(f'What distillation adds for the {role}s (mean over datasets; band: 95% CI over seeds)',
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figures._save(fig, path)


def scatter_figure(points: list[dict], rho: float, p: float, n: int, path: Path) -> Path | None:
    """Diagnostic estimate against the measured KD gain, one point per cell x dataset."""
    from matplotlib.figure import Figure

    from jedi_repro.reporting import figures
    if not points:
        return None
    fig = Figure(figsize=(5.2, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    views = list(dict.fromkeys(q['view'] for q in points))
    for k, view in enumerate(views):
        qs = [q for q in points if q['view'] == view]
        ax.errorbar([q['kd_estimate'] * 100 for q in qs], [q['kd_gain'] * 100 for q in qs],
                    yerr=[(q['kd_gain_ci'] or 0) * 100 for q in qs], fmt='o', ms=4, capsize=2, alpha=0.8,
                    color=('#1f77b4', '#d62728')[k % 2], label=f'{view} views')
    ax.axhline(0, color='k', lw=0.6)
    ax.axvline(0, color='k', lw=0.6)
    ax.set_xlabel('jedi diagnose: KD estimate (probe - student, points, val)')
    ax.set_ylabel('measured: students JEDI - gamma=0 (points, test)')
    ax.set_title(f'Does the diagnostic rank the KD gain? Spearman rho = {rho:.2f} (p = {p:.2g}, n = {n})',
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figures._save(fig, path)


# ------------------------------------------------------------------ diagnostic per cell
def cell_diagnostics(mcfg, log=_log) -> dict:
    """``jedi diagnose`` on every cell's store that exists (its short run is reused once done)."""
    from jedi_repro.engine.diagnose import diagnose
    out = {}
    for view, frac in R.cells(mcfg):
        sdir = R.store_dir(view, frac)
        if not (sdir / 'manifest.json').is_file():
            continue
        out[R.cell_name(view, frac)] = diagnose(sdir, log=log)
    return out


def diagnostic_points(gains: list[dict], diags: dict) -> list[dict]:
    pts = []
    for g in gains:
        d = (diags.get(g['cell']) or {}).get('datasets', {}).get(g['dataset'])
        if d is not None:
            pts.append({**g, **{k: d[k] for k in ('headroom', 'agreement', 'kd_estimate', 'probe_top1',
                                                   'student_top1', 'teacher_top1', 'gain_set_transfer')}})
    return pts


# ------------------------------------------------------------------ the report
def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    load = ', '.join(f'{x:.1f}' for x in os.getloadavg())
    return f'{os.cpu_count()} CPU cores ({cpu}); load average {load} when the report was written'


def write_report(out: Path, mcfg, argv: list[str], wall_s: float) -> None:
    """``out/README.md``, ``results.csv`` (one row per run), ``kd_gain_vs_diagnostic.csv``, figures."""
    import pandas as pd

    from jedi_repro.engine.diagnose import spearman
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = collect(mcfg)
    frame = pd.DataFrame(rows)
    if frame.empty:
        from jedi_repro.errors import JediError
        raise JediError('jedi bench regimes: no finished runs to report; run it without --report-only')
    R._atomic_write(out / 'results.csv', frame.to_csv(index=False))
    figs = {}
    for role in ('student', 'teacher'):
        p = delta_figure(frame, mcfg, role, out / 'figures' / f'{role}s_jedi_minus_gamma0.png')
        if p:
            figs[role] = p.relative_to(out)
    diags = cell_diagnostics(mcfg)
    pts = diagnostic_points(kd_gain_per_dataset(frame, mcfg), diags)
    rho, p_rho, n_rho = spearman([q['kd_estimate'] for q in pts], [q['kd_gain'] for q in pts])
    rho_h, p_h, n_h = spearman([q['headroom'] for q in pts], [q['kd_gain'] for q in pts])
    rho_a, p_a, n_a = spearman([q['agreement'] for q in pts], [q['kd_gain'] for q in pts])
    if pts:
        R._atomic_write(out / 'kd_gain_vs_diagnostic.csv', pd.DataFrame(pts).to_csv(index=False))
    sc = scatter_figure(pts, rho, p_rho, n_rho, out / 'figures' / 'diagnostic_vs_kd_gain.png')
    n_runs, n_reused = len(frame), int(frame.reused.sum())
    train_min = frame.wall_s.sum() / 60
    expected = sum(len(mcfg.seeds) * (4 if v in mcfg.get('kd_pool_views', ()) else 3) + (
        len(mcfg.seeds) if v in mcfg.get('kd_pool_views', ()) else 0) for v, _ in R.cells(mcfg))
    views_txt = '; '.join(f'**{v}**: ' + ', '.join(f'{ds} {spec.get("modality", "rgb+audio")}'
                                                   for ds, spec in experts.items())
                          for v, experts in mcfg.views.items())
    opts = ', '.join(f'`{k}={v}`' for k, v in mcfg.get('jedi_cfg_options', {}).items())
    parts = [
        '# When does JEDI help? A regime map on YouTube-8M features', '',
        f'Command: `{" ".join(argv)}` (map: `mm_configs/yt8m/regimes.py`). This call took '
        f'{wall_s / 60:.1f} min (stores and studies finished by an earlier call are reused and take no time '
        f'here); the {n_runs} seed runs behind the tables ({n_reused} adopted from earlier identical runs; '
        f'{expected} in the map) took {train_min:.1f} min of training in all (sum of their `wall_s`, two '
        f'cells at a time). Machine: {machine_line()}; shared with other jobs while the runs trained, so '
        'times are upper bounds.', '',
        '## Design', '',
        '* Datasets: the 4-vertical cut of `mm_configs/yt8m/setting_main.py` (`reports/yt8m/README.md`).',
        f'* Label fraction per train split: {", ".join(f"{float(f):.0%}" for f in mcfg.label_fractions)}. '
        'Each cell has its own experts, trained on that cell\'s labelled samples only '
        f'({mcfg.expert_defaults.hidden} units x {mcfg.expert_defaults.num_layers} layer, '
        f'{mcfg.expert_defaults.max_epochs} epochs), and its own feature store.',
        f'* Expert views: {views_txt}.',
        '* Variants, each over seeds ' + ', '.join(map(str, mcfg.seeds)) + ' (paired by seed): **JEDI** '
        '(`mm_configs/yt8m/jedi_yt8m.py`: concat, alpha = beta = 1, gamma = 0.4, KD = ce at tau = 2 '
        'summed over datasets), **gamma=0** (the same with no KD term: students and teachers trained on '
        'labels only), **student-only** (no teachers, no KD: plain fine-tuning of the students), and in '
        f'the {", ".join(mcfg.get("kd_pool_views", ()))} view(s) **kd_pool=own / others** (student i '
        'distils only on its own dataset\'s / only on the other datasets\' pool samples).',
        f'* Budget (to fit the map in about an hour on 2 cores): {opts}. `results.csv` says per run how '
        'many epochs it trained and whether it stopped at its validation plateau.',
        '* Test split; every role is tested at the checkpoint its own validation selected. Deltas: mean of '
        'the per-seed differences ± the half-width of its 95% Student-t interval (n seeds); * p < 0.05, '
        '** p < 0.01 (two-sided paired t-test). Nothing here is chosen on test.', '',
        '## Main table (mean over the 4 datasets, top-1 %, mean ± 95% CI (n))', '',
        _md(main_rows(frame, mcfg)), '',
    ]
    if figs:
        parts += ['## What distillation adds, at a glance', '']
        parts += [f'![{r}s: JEDI - gamma=0]({p})' for r, p in figs.items()] + ['']
    parts += [
        '## Per dataset: what distillation adds to each student (JEDI - gamma=0, top-1 points)', '',
        _md(per_dataset_rows(frame, mcfg)), '',
        '## Which pool samples a student distils on (`model.kd_pool`)', '',
        'About three quarters of student i\'s pool samples come from other datasets, where its classes do '
        'not apply. `own`: only D_i\'s; `others`: only the other datasets\'. Paired against JEDI (`all`).',
        '', _md(pool_rows(frame, mcfg)), '',
        '## Diagnostic: does `jedi diagnose` predict the KD gain?', '',
        '`jedi diagnose STORE` per cell store (one short gamma=0 run, seed 0, validation split; '
        '`jedi_repro/engine/diagnose.py`) against the measured KD gain per cell x dataset (students, '
        'JEDI - gamma=0, test, mean over seeds). Spearman rank correlation over the cell x dataset points '
        '(p: two-sided, points treated as independent although the datasets of a cell share runs):', '',
        '| diagnostic | Spearman rho | p | n |', '|---|---:|---:|---:|',
        f'| KD estimate (probe - student) | {rho:.2f} | {p_rho:.2g} | {n_rho} |',
        f'| headroom (teacher - student) | {rho_h:.2f} | {p_h:.2g} | {n_h} |',
        f'| agreement (probe vs teacher) | {rho_a:.2f} | {p_a:.2g} | {n_a} |', '',
    ]
    tests = [(rho, p_rho), (rho_h, p_h), (rho_a, p_a)]
    if all(not (p < 0.05) for _, p in tests):  # NaN p (too few points) counts as not significant
        parts += ['No diagnostic here ranks the measured KD gain significantly (every p >= 0.05): on this '
                  'map `jedi diagnose` does not predict whether distillation helps.', '']
    else:
        best = max(tests, key=lambda t: abs(t[0]))
        parts += [f'The strongest rank correlation is rho = {best[0]:.2f} (p = {best[1]:.2g}).', '']
    if sc:
        parts += [f'![diagnostic vs KD gain]({sc.relative_to(out)})', '']
    parts += ['Per point: `kd_gain_vs_diagnostic.csv`.', '']
    R._atomic_write(out / 'README.md', portable_text('\n'.join(parts)))
