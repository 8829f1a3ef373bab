"""The regime map's report: ``results.csv`` (one row per seed run), paired deltas, figures, diagnostic.

Every number is read from the seed runs' ``metrics.json`` under ``$JEDI_HOME/work_dirs/regimes_*`` (test
split; each role at the checkpoint its own validation selected) and from the KD-gain predictors
(``jedi_repro.benchmarks.kd_predictors``) on each cell's store (validation split). Deltas are paired by
seed (the same seed draws the same batches and initialisation in both variants): mean and Student-t
95% interval of the per-seed differences (``jedi_repro.reporting.stats``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

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
    for cell in R.cells(mcfg):
        overlap = measured_overlap(mcfg, cell)
        for sv in R.cell_variants(mcfg, cell):
            study = R.study_name(mcfg, cell, sv)
            for f in sorted(workspace.work_dir(study).glob('trial_*/seed_*/metrics.json')):
                m = json.loads(f.read_text())
                conv = m.get('convergence') or {}
                row = dict(view=cell.view, label_fraction=cell.fraction, n_datasets=cell.n,
                           overlap_requested=cell.overlap, overlap_measured=overlap, cell=cell.name,
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
                for ds, per in ((m.get('val') or {}).get('datasets') or {}).items():
                    row[f'{ds}_student_val_top1'] = (per.get('student') or {}).get('top1')
                rows.append(row)
    return rows


def measured_overlap(mcfg, cell) -> float | None:
    """Mean over the cell store's datasets of the share of their classes another dataset also has
    (``yt8m.overlap_share`` on the class names written in the store); None before the store exists."""
    from jedi_repro.data.feature_store import FeatureStore
    from jedi_repro.data.yt8m import overlap_share
    sdir = R.store_dir(mcfg, cell)
    if not (sdir / 'manifest.json').is_file():
        return None
    store = FeatureStore.open(sdir)
    shares = overlap_share({d: list(store.dataset(d)['classes']) for d in store.dataset_names})
    return float(sum(shares.values()) / len(shares))


def lead(mcfg, cell) -> dict:
    """The columns that name a cell in the tables."""
    if cell.n is None:
        return {'view': cell.view, 'labels': f'{cell.fraction:.0%}'}
    ov = measured_overlap(mcfg, cell)
    return {'view': cell.view, 'n': cell.n,
            'overlap': 'n/a' if ov is None else f'{ov:.0%}'}


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
    for c in R.cells(mcfg):
        cell = c.name
        if frame[frame.cell == cell].empty:
            continue
        rows.append({
            **lead(mcfg, c),
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
    for c in R.cells(mcfg):
        cell = c.name
        if not R.has_kd_pool(mcfg, c) or frame[frame.cell == cell].empty:
            continue
        rows.append({
            **lead(mcfg, c),
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
    for c in R.cells(mcfg):
        for ds in datasets:
            t = _paired(frame, c.name, 'jedi', 'gamma0', f'{ds}_student_top1')
            if t is not None:
                out.append(dict(cell=c.name, view=c.view, label_fraction=c.fraction, n_datasets=c.n,
                                overlap=c.overlap, dataset=ds, kd_gain=t.diff.mean, kd_gain_ci=t.diff.ci,
                                kd_gain_p=t.p, n=t.diff.n))
    return out


def per_dataset_rows(frame, mcfg) -> list[dict]:
    """Per cell: the students' JEDI - gamma=0 per dataset, and the teachers' and experts' top-1."""
    datasets = [c[:-len('_student_top1')] for c in frame.columns
                if c.endswith('_student_top1') and not c.startswith('mean_')]
    rows = []
    for c in R.cells(mcfg):
        cell = c.name
        if frame[frame.cell == cell].empty:
            continue
        row = lead(mcfg, c)
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
def _series(frame, mcfg) -> list[tuple[str, list[tuple[float, str]]]]:
    """Lines of the delta figure: per view (x = labelled %), or per view and n (x = measured overlap %)."""
    out: dict[str, list[tuple[float, str]]] = {}
    for c in R.cells(mcfg):
        if c.n is None:
            out.setdefault(f'{c.view} views', []).append((c.fraction * 100, c.name))
        else:
            ov = measured_overlap(mcfg, c)
            if ov is not None:
                out.setdefault(f'{c.view} views, n = {c.n}', []).append((ov * 100, c.name))
    return list(out.items())


def delta_figure(frame, mcfg, role: str, path: Path) -> Path | None:
    """JEDI minus gamma=0 (mean over datasets) against the label fraction (first map) or the measured
    class overlap (overlap map): one line per view (and n), 95% band."""
    from matplotlib.figure import Figure

    from jedi_repro.reporting import figures
    fig = Figure(figsize=(5.6, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    drawn = False
    colors = ('#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b')
    for k, (label, points) in enumerate(_series(frame, mcfg)):
        xs, ms, lo, hi = [], [], [], []
        for x, cell in sorted(points):
            t = _paired(frame, cell, 'jedi', 'gamma0', f'mean_{role}_top1')
            if t is None:
                continue
            ci = t.diff.ci or 0.0
            xs.append(x)
            ms.append(t.diff.mean * 100)
            lo.append((t.diff.mean - ci) * 100)
            hi.append((t.diff.mean + ci) * 100)
        if not xs:
            continue
        drawn = True
        ax.plot(xs, ms, marker='o', color=colors[k % len(colors)], label=label)
        ax.fill_between(xs, lo, hi, color=colors[k % len(colors)], alpha=0.15)
    if not drawn:
        return None
    ax.axhline(0, color='k', lw=0.8)
    if R.is_overlap_map(mcfg):
        ax.set_xlabel("class overlap (% of each dataset's classes another dataset has; measured)")
    else:
        ax.set_xscale('log')
        ticks = [float(f) * 100 for f in mcfg.label_fractions]
        ax.set_xticks(ticks, [f'{t:g}' for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel('labelled fraction (%, log scale)')
    ax.set_ylabel(f'{role}s: JEDI - gamma=0 top-1 (points)')
    ax.set_title(f'What distillation adds for the {role}s (mean over datasets; band: 95% CI over seeds)',
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return figures._save(fig, path)


def scatter_figure(points: list[dict], key: str, xlabel: str, rho: float, p: float, n: int,
                   path: Path) -> Path | None:
    """A diagnostic's estimate against the measured KD gain on held-out seeds (a point per cell x dataset)."""
    from matplotlib.figure import Figure

    from jedi_repro.reporting import figures
    pts = [q for q in points if q.get(key) is not None and np.isfinite(q[key])]
    if not pts:
        return None
    fig = Figure(figsize=(5.2, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    views = list(dict.fromkeys(q['view'] for q in pts))
    for k, view in enumerate(views):
        qs = [q for q in pts if q['view'] == view]
        ax.errorbar([q[key] * 100 for q in qs], [q['heldout_gain'] * 100 for q in qs],
                    yerr=[(q['heldout_gain_ci'] or 0) * 100 for q in qs], fmt='o', ms=4, capsize=2,
                    alpha=0.8, color=('#1f77b4', '#d62728')[k % 2], label=f'{view} views')
    ax.axhline(0, color='k', lw=0.6)
    ax.axvline(0, color='k', lw=0.6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel('measured: students JEDI - gamma=0\n(points, test, held-out seeds)')
    ax.set_title(f'Spearman rho = {rho:.2f} (p = {p:.2g}, n = {n})', fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figures._save(fig, path)


# ------------------------------------------------------------------ the diagnostic's validation
def _run_dir(frame, cell: str, variant: str, seed: int) -> Path | None:
    from jedi_repro import workspace
    g = frame[(frame.cell == cell) & (frame.variant == variant) & (frame.seed == seed)]
    return None if g.empty else workspace.root() / g.iloc[0]['run']


def _by_seed(cf, variant: str, col: str, seeds) -> dict[int, float]:
    g = cf[(cf.variant == variant) & cf.seed.isin(seeds)].dropna(subset=[col])
    return {int(r.seed): float(r[col]) for _, r in g.iterrows()}


def diagnostic_points(frame, mcfg) -> list[dict]:
    """Per cell x dataset: the pilot's estimate, the cheap indicators and the measured gain they predict.

    * pilot: students' JEDI minus gamma=0, validation top-1, over the pilot seeds
      (``kd_predictors.PILOT_SEEDS``, at the map's budget: the map's own runs of those seeds);
    * cheap indicators (``kd_predictors.probe_indicators``) from the map's gamma=0 run of the first
      pilot seed;
    * measured: students' JEDI minus gamma=0, test top-1, paired over the map's OTHER seeds (held out from
      every diagnostic).
    """
    from jedi_repro.benchmarks import kd_predictors as D
    pilot_seeds = [s for s in D.PILOT_SEEDS if s in mcfg.seeds]
    held_out = [s for s in mcfg.seeds if s not in pilot_seeds]
    datasets = [c[:-len('_student_top1')] for c in frame.columns
                if c.endswith('_student_top1') and not c.startswith('mean_')]
    pts = []
    for c in R.cells(mcfg):
        cf = frame[frame.cell == c.name]
        if cf.empty:
            continue
        probe = {}
        run = _run_dir(frame, c.name, 'gamma0', pilot_seeds[0]) if pilot_seeds else None
        if run is not None and (run / 'metrics.json').is_file():
            probe = D.probe_indicators(R.store_dir(mcfg, c), run)
        for ds in datasets:
            if f'{ds}_student_val_top1' not in cf or cf[f'{ds}_student_top1'].isna().all():
                continue

            col = f'{ds}_student_val_top1'
            est, n_pilot = D.pilot_gain(_by_seed(cf, 'jedi', col, pilot_seeds),
                                        _by_seed(cf, 'gamma0', col, pilot_seeds))
            sub = cf[cf.seed.isin(held_out)]
            t = _paired(sub, c.name, 'jedi', 'gamma0', f'{ds}_student_top1')
            if t is None:
                continue
            pr = probe.get(ds, {})
            pts.append(dict(cell=c.name, view=c.view, label_fraction=c.fraction, n_datasets=c.n,
                            overlap=c.overlap, dataset=ds, pilot_estimate=est, pilot_seeds=n_pilot,
                            heldout_gain=t.diff.mean, heldout_gain_ci=t.diff.ci, heldout_seeds=t.diff.n,
                            **{k: pr.get(k) for k in ('headroom', 'agreement', 'kd_estimate', 'probe_top1')}))
    return pts


DIAGNOSTICS = (('pilot_estimate', 'pilot: JEDI - gamma=0 (val, pilot seeds)'),
               ('kd_estimate', 'cheap: probe - student (one gamma=0 run)'),
               ('headroom', 'cheap: headroom, teacher - student (one gamma=0 run)'),
               ('agreement', 'cheap: probe agrees with teacher (one gamma=0 run)'))


def validate_diagnostics(points: list[dict]) -> dict:
    """Spearman rho and sign agreement of each diagnostic against the held-out measured gain."""
    from jedi_repro.benchmarks import kd_predictors as D
    out = {}
    gains = [q['heldout_gain'] for q in points]
    cis = [q['heldout_gain_ci'] for q in points]
    for key, _ in DIAGNOSTICS:
        est = [np.nan if q.get(key) is None else q[key] for q in points]
        rho, p, n = D.spearman(est, gains)
        right, of = D.sign_agreement(est, gains, cis)
        out[key] = dict(rho=rho, p=p, n=n, sign_right=right, sign_of=of)
    return out


# ------------------------------------------------------------------ the report
def machine_line() -> str:
    from jedi_repro.tracking.provenance import cpu_model
    cpu = cpu_model()
    load = ', '.join(f'{x:.1f}' for x in os.getloadavg())
    return f'{os.cpu_count()} CPU cores ({cpu}); load average {load} when the report was written'


def _design(mcfg, frame) -> list[str]:
    """The Design section's first bullets: what the cells vary."""
    if not R.is_overlap_map(mcfg):
        views_txt = '; '.join(f'**{v}**: ' + ', '.join(f'{ds} {spec.get("modality", "rgb+audio")}'
                                                       for ds, spec in experts.items())
                              for v, experts in mcfg.views.items())
        return [
            '* Datasets: the 4-vertical cut of `mm_configs/yt8m/setting_main.py` (`reports/yt8m/README.md`).',
            '* Datasets: the 4-vertical cut of `mm_configs/yt8m/setting_main.py` '
            '(`reports/yt8m/README.md`).',
            'Each cell has its own experts, trained on that cell\'s labelled samples only '
            f'({mcfg.expert_defaults.hidden} units x {mcfg.expert_defaults.num_layers} layer, '
            f'{mcfg.expert_defaults.max_epochs} epochs), and its own feature store.',
            f'* Expert views: {views_txt}.']
    oc = mcfg.overlap_cut
    per = oc['videos_per_class']
    tr = round(per * oc['fractions'][0])
    measured = ', '.join(f'{c.name} {measured_overlap(mcfg, c):.0%}' for c in R.cells(mcfg)
                         if measured_overlap(mcfg, c) is not None)
    grid = '; '.join(f'{v}: n = {n}, overlap {", ".join(f"{o:.0%}" for o in ovs)}' for v, n, ovs in mcfg.grid)
    return [
        f'* Datasets: the overlap cut (`jedi_repro/data/yt8m.py`: `cut_overlapping`; '
        '`overlap_cut` of the map config): n datasets `d0`..`d(n-1)` of '
        f'{oc["classes_per_dataset"]} classes each, drawn from the {oc["universe"]} most frequent named '
        f'YouTube-8M labels (a video qualifies for label L when L is its only label among them); '
        f'{per} videos per dataset and class ({tr} train), no video in two datasets or two splits. '
        'Requested class overlap 0 / 30 / 60 % = 0 / 1 / 2 of the 3 classes shared with one other '
        'dataset; **measured on each written store** (share of a dataset\'s class names that another '
        f'dataset of the store also has, mean over datasets): {measured or "no store yet"}.',
        '* Every train split 100% labelled (the paper\'s regime): the pool each student distils on is every '
        'train video of every dataset. Overlap 0 here is the "100% column" of the first map\'s design '
        '(disjoint classes, all labels), on this cut rather than the first map\'s four verticals.',
        f'* Cells that run (`grid`): {grid}. Each cell has its own experts (trained on its train split, '
        f'{mcfg.expert_defaults.hidden} units x {mcfg.expert_defaults.num_layers} layer, '
        f'{mcfg.expert_defaults.max_epochs} epochs) and its own feature store.',
        '* Expert views (modalities dealt to d0, d1, ... in turn): ' + '; '.join(
            f'**{v}**: {" / ".join(m)}' for v, m in mcfg.views.items()) + '.']


def write_report(out: Path, mcfg, argv: list[str], wall_s: float, map_path: Path | None = None) -> None:
    """``out/README.md``, ``results.csv`` (one row per run), ``kd_gain_vs_diagnostic.csv``, figures."""
    import pandas as pd

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
    pts = diagnostic_points(frame, mcfg)
    val = validate_diagnostics(pts)
    if pts:
        R._atomic_write(out / 'kd_gain_vs_diagnostic.csv', pd.DataFrame(pts).to_csv(index=False))
    pv = val['pilot_estimate']
    sc = scatter_figure(pts, 'pilot_estimate', 'pilot: JEDI - gamma=0 (points, val, pilot seeds)',
                        pv['rho'], pv['p'], pv['n'], out / 'figures' / 'diagnostic_vs_kd_gain.png')
    n_runs, n_reused = len(frame), int(frame.reused.sum())
    train_min = frame.wall_s.sum() / 60
    expected = sum(len(mcfg.seeds) * len(R.cell_variants(mcfg, c)) + (
        len(mcfg.seeds) if R.has_kd_pool(mcfg, c) else 0) for c in R.cells(mcfg))
    done_cells = sorted(set(frame.cell))
    map_rel = portable_text(str(map_path)) if map_path else 'mm_configs/yt8m/regimes.py'
    cmd = ' '.join(argv)
    from jedi_repro.benchmarks import kd_predictors as D
    held = [s for s in mcfg.seeds if s not in D.PILOT_SEEDS]
    scope = (f'Validated on the {len(set(q["cell"] for q in pts))} cells of map `{mcfg.name}` that had '
             'finished runs when the report was written' + (
                 '' if len(done_cells) == len(R.cells(mcfg)) else
                 f' ({len(done_cells)} of {len(R.cells(mcfg))} cells)') + '.')
    opts = ', '.join(f'`{k}={v}`' for k, v in mcfg.get('jedi_cfg_options', {}).items())
    title = ('# The paper\'s regime: fully labelled datasets whose classes overlap '
             '(a regime map on YouTube-8M)'
             if R.is_overlap_map(mcfg) else '# When does JEDI help? A regime map on YouTube-8M features')
    parts = [
        title, '',
        f'Command: `{cmd}` (map: `{map_rel}`). This call took '
        f'{wall_s / 60:.1f} min (stores and studies finished by an earlier call are reused and take no time '
        f'here); the {n_runs} seed runs behind the tables ({n_reused} adopted from earlier identical runs; '
        f'{expected} in the map) took {train_min:.1f} min of training in all (sum of their `wall_s`, two '
        f'cells at a time). Machine: {machine_line()}; shared with other jobs while the runs trained, so '
        'times are upper bounds.', '',
        '## Design', '',
        *_design(mcfg, frame),
        '* Variants, each over seeds ' + ', '.join(map(str, mcfg.seeds)) + ' (paired by seed): **JEDI** '
        '(`mm_configs/yt8m/jedi_yt8m.py`: concat, alpha = beta = 1, gamma = 0.4, KD = ce at tau = 2 '
        'summed over datasets), **gamma=0** (the same with no KD term: students and teachers trained on '
        'labels only), **student-only** (no teachers, no KD: plain fine-tuning of the students), and '
        + ('where classes overlap' + (f' (at n = {", ".join(map(str, mcfg.kd_pool_n))} only)'
                                      if 'kd_pool_n' in mcfg else '')
           if R.is_overlap_map(mcfg) else f'in the {", ".join(mcfg.get("kd_pool_views", ()))} view(s)')
        + ' **kd_pool=own / others** (student i distils only on its own dataset\'s / only on the other '
        'datasets\' pool samples).',
        f'* Budget (to fit the map in about an hour on 2 cores): {opts}. `results.csv` says per run how '
        'many epochs it trained and whether it stopped at its validation plateau.',
        '* Test split; every role is tested at the checkpoint its own validation selected. Deltas: mean of '
        'the per-seed differences ± the half-width of its 95% Student-t interval (n seeds); * p < 0.05, '
        '** p < 0.01 (two-sided paired t-test). Nothing here is chosen on test.', '',
        '## Main table (mean over the datasets of each cell, top-1 %, mean ± 95% CI (n))', '',
        _md(main_rows(frame, mcfg)), '',
    ]
    if figs:
        parts += ['## What distillation adds, at a glance', '']
        parts += [f'![{r}s: JEDI - gamma=0]({p})' for r, p in figs.items()] + ['']
    parts += [
        '## Per dataset: what distillation adds to each student (JEDI - gamma=0, top-1 points)', '',
        _md(per_dataset_rows(frame, mcfg)), '',
        '## Which pool samples a student distils on (`model.kd_pool`)', '',
        '`own`: student i distils only on D_i\'s pool samples; `others`: only on the other datasets\' '
        '(with disjoint classes those carry nothing about its classes; with overlapping classes some '
        'are samples of its own classes). Paired against JEDI (`all`).', '',
        _md(pool_rows(frame, mcfg)), '',
        '## Diagnostic: can the KD gain be predicted before the study?', '',
        f'Per cell x dataset, each diagnostic against the measured KD gain (students, JEDI - gamma=0, test '
        f'top-1) on the seeds no diagnostic used ({", ".join(map(str, held))}; the pilot uses seeds '
        f'{", ".join(map(str, D.PILOT_SEEDS))} at the map\'s budget, which are the map\'s own runs of those '
        'seeds; the cheap indicators come from the map\'s gamma=0 run of the first pilot seed). Spearman '
        'rank correlation (p: two-sided, points treated as independent although the datasets of a cell '
        'share runs); sign: of the points whose measured gain\'s 95% interval excludes 0, how many the '
        f'estimate gets the sign of. {scope}', '',
        '| diagnostic | Spearman rho | p | n | sign right |', '|---|---:|---:|---:|---:|',
    ]
    for key, label in DIAGNOSTICS:
        v = val[key]
        sign = 'n/a' if key == 'agreement' else f'{v["sign_right"]} of {v["sign_of"]}'
        parts.append(f'| {label} | {v["rho"]:.2f} | {v["p"]:.2g} | {v["n"]} | {sign} |')
    good = [label for key, label in DIAGNOSTICS if val[key]['rho'] >= 0.5 and val[key]['p'] < 0.05]
    parts += ['', (f'Reaches rho >= 0.5 at p < 0.05 here: {"; ".join(good)}.' if good else
                   'No diagnostic here reaches rho >= 0.5 at p < 0.05: none predicts the measured KD gain '
                   'on this map.'), '']
    if sc:
        parts += [f'![pilot vs KD gain]({sc.relative_to(out)})', '']
    parts += ['Per point: `kd_gain_vs_diagnostic.csv`.', '']
    R._atomic_write(out / 'README.md', portable_text('\n'.join(parts)))
