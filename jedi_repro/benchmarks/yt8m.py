"""The YouTube-8M benchmark (``jedi bench yt8m``): real video-level features, end to end.

cut (``jedi_repro.data.yt8m``) -> experts + feature store per setting
(``jedi_repro.experts.video_level_expert``, ``mm_configs/yt8m/setting_*.py``) -> diagnostics (what each
frozen expert knows about every dataset) -> studies
(``studies/yt8m_<setting>_{kd,gamma0,student,fusion}.yaml``: JEDI paper settings under both KD reductions,
gamma = 0, student-only fine-tuning and fusion ablations, 5 seeds) -> reports (``out``, by default
``reports/yt8m``): one ``jedi report`` per setting plus the benchmark's own summary, whose tables and
figure are built with the same code (``jedi_repro.reporting.writers``/``figures``).

Every stage reuses the previous stage's files under the workspace root (``$JEDI_HOME``): a store that
exists is reused unless ``overwrite``; a study that is complete is not re-run (Optuna journal).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from jedi_repro.workspace import checkout_root, portable_text

REPO = checkout_root()
SETTINGS = ('main', 'scarce', 'hetero')
STUDENT_ONLY = 'student fine-tuning only'
VARIANT_ORDER = ('paper (concat, g=0.4, dataset_sum)', 'concat, g=0.4, pool_mean', 'gamma=0 (concat)',
                 STUDENT_ONLY, 'fusion=mean', 'fusion=attention', 'fusion=logits')
STUDY_PARTS = ('kd', 'gamma0', 'student', 'fusion')


def _log(msg: str) -> None:
    print(msg, flush=True)


def _atomic_write(path: Path, text: str) -> None:
    from jedi_repro.atomic import write_text_atomic
    write_text_atomic(path, text)


def run_benchmark(data_dir: str | None, out: str | Path, settings: list[str], workers: int = 1,
                  overwrite: bool = False, skip_studies: bool = False, argv: list[str] | None = None) -> Path:
    """The whole YouTube-8M benchmark (what ``jedi bench yt8m`` runs); returns the report directory.

    Args:
        data_dir: directory with the YouTube-8M npz and vocabulary (None: ``$JEDI_YT8M`` or the shared
            copy, ``jedi_repro.data.yt8m.resolve_data_dir``).
        out: report directory.
        settings: names of ``mm_configs/yt8m/setting_<name>.py``.
        workers: study worker processes.
        overwrite: rebuild the experts and feature stores.
        skip_studies: stop after the stores and diagnostics.
        argv: the command line, for the report.

    Raises:
        JediError: an unknown setting, bad worker count, missing data, a failed stage.
    """
    from jedi_repro import workspace
    from jedi_repro.data import yt8m
    from jedi_repro.errors import JediError
    from jedi_repro.experts import video_level_expert as E

    t_start = time.perf_counter()
    bad = [s for s in settings if not (E.CONFIG_DIR / f'setting_{s}.py').is_file()]
    if bad or not settings:
        raise JediError(f'--settings: unknown setting(s) {bad or settings}; available: '
                        f'{sorted(p.stem[8:] for p in E.CONFIG_DIR.glob("setting_*.py"))}')
    if workers < 1:
        raise JediError(f'--workers must be at least 1, got {workers}')
    out = Path(out).resolve()
    data = yt8m.load_yt8m(data_dir)
    _log(f'yt8m: {len(data)} videos from {data.source}')
    timings: dict[str, float] = {}
    results = {}
    for name in settings:
        setting = E.load_setting(E.CONFIG_DIR / f'setting_{name}.py')
        t0 = time.perf_counter()
        cut = yt8m.cut_datasets(data.label_offsets, data.label_values, data.vocab, **setting.cut)
        store_dir = workspace.features_dir(f'yt8m_{name}')
        bench_dir = workspace.path('bench', 'yt8m', name, mkdir=True)
        experts_json = bench_dir / 'experts.json'
        if store_dir.exists() and experts_json.is_file() and not overwrite:
            _log(f'[{name}] reusing feature store {store_dir} (pass --overwrite to rebuild)')
            experts = json.loads(experts_json.read_text())
        else:
            _log(f'[{name}] cut:\n{yt8m.describe_cut(cut)}\n[{name}] training experts '
                 f'({setting.labeled_fraction:.0%} of each train split labelled)')
            experts = E.build_yt8m_store(data, cut, setting, store_dir, bench_dir / 'experts',
                                         overwrite=overwrite or store_dir.exists(), log=_log)
            _atomic_write(experts_json, json.dumps(experts, indent=1))
        timings[f'{name}: cut + experts + store'] = time.perf_counter() - t0
        t0 = time.perf_counter()
        probes = transfer_probes(store_dir)
        timings[f'{name}: diagnostics'] = time.perf_counter() - t0
        res = dict(setting=name, labeled_fraction=setting.labeled_fraction, cut=cut, experts=experts,
                   probes=probes, store=str(store_dir), seeds=None)
        if not skip_studies:
            t0 = time.perf_counter()
            res.update(run_setting_study(name, workers))
            timings[f'{name}: study (JEDI trainings)'] = time.perf_counter() - t0
            t0 = time.perf_counter()
            res['report'] = setting_report(res['studies'], out / name)
            timings[f'{name}: study report'] = time.perf_counter() - t0
            t0 = time.perf_counter()
            res['teacher_diag'] = [dict(variant=r['variant'], seed=r['seed'],
                                        **teacher_diagnostics(r['path'])) for r in res['runs']]
            timings[f'{name}: teacher diagnostics'] = time.perf_counter() - t0
        results[name] = res
    timings['total'] = time.perf_counter() - t_start
    write_bench_report(out, results, timings, argv=argv or ['jedi', 'bench', 'yt8m'])
    _log(f'yt8m: report in {out / "README.md"} ({timings["total"]:.0f} s in all)')
    return out


# ------------------------------------------------------------------------------------------ diagnostics
def transfer_probes(store_dir) -> dict:
    """What each frozen expert knows about every dataset: linear probes on the store's features.

    For dataset i and expert j, a softmax regression is fit on f_j of D_i's *labelled* train samples
    (the labels JEDI may use) and scored on D_i's test split; ``all`` is the probe on the concatenation of
    every expert's features (the information the teacher's meta-classifier sees, before adjustment);
    ``own_head`` is expert i's own classifier. On D_i's *unlabelled* train samples (ground truth known to
    us, hidden from JEDI) the ``all`` probe's accuracy is a proxy for pseudo-label quality.

    Returns:
        ``{dataset: {'expert_probe': {expert: top1}, 'all': top1, 'all_mean_class': ...,
        'own_head': top1, 'own_head_mean_class': ..., 'pseudo_label_top1_all': ...,
        'pseudo_label_top1_own_head': ..., 'n_labeled': int, 'n_unlabeled': int}}``.
    """
    import numpy as np

    from jedi_repro.data.feature_store import FeatureStore
    from jedi_repro.experts.video_level_expert import linear_probe, top1_and_mean_class

    store = FeatureStore.open(store_dir)
    out = {}
    for ds in store.dataset_names:
        n_cls = len(store.dataset(ds)['classes'])
        mask = np.asarray(store.labeled_mask(ds))
        ytr, yte = np.asarray(store.labels(ds, 'train')), np.asarray(store.labels(ds, 'test'))
        feats = {e: (np.asarray(store.features(e, ds, 'train'), np.float32),
                     np.asarray(store.features(e, ds, 'test'), np.float32)) for e in store.expert_names}
        row = {'expert_probe': {}, 'n_labeled': int(mask.sum()), 'n_unlabeled': int((~mask).sum())}
        for e, (tr, te) in feats.items():
            row['expert_probe'][e] = top1_and_mean_class(linear_probe(tr[mask], ytr[mask], te, n_cls), yte)[0]
        tr_all = np.concatenate([f[0] for f in feats.values()], 1)
        te_all = np.concatenate([f[1] for f in feats.values()], 1)
        p = linear_probe(tr_all[mask], ytr[mask], np.concatenate([te_all, tr_all[~mask]]), n_cls)
        row['all'], row['all_mean_class'] = top1_and_mean_class(p[:len(yte)], yte)
        own = next(e for e in store.expert_names if store.expert(e)['dataset'] == ds)
        w, b = store.head(own)
        own_logits = {s: feats[own][i] @ w.T + b for i, s in enumerate(('train', 'test'))}
        row['own_head'], row['own_head_mean_class'] = top1_and_mean_class(own_logits['test'], yte)
        if (~mask).any():
            row['pseudo_label_top1_all'] = top1_and_mean_class(p[len(yte):], ytr[~mask])[0]
            row['pseudo_label_top1_own_head'] = top1_and_mean_class(own_logits['train'][~mask], ytr[~mask])[0]
        out[ds] = row
    return out


def teacher_diagnostics(metrics_path) -> dict:
    """Where the trained teachers' targets are right or wrong, from one run's selected checkpoints.

    The model is rebuilt from the run's own ``metrics.json`` config and, per role, the checkpoint that
    run tested the role at (loaded with ``weights_only=True``). Per dataset i:

    - ``pl_{expert,student,teacher}``: top-1 on D_i's *unlabelled* train samples (labels hidden from JEDI,
      known to us): the accuracy of the targets the KD term distils there;
    - ``cross_agree``: on every other dataset's train samples (the cross-dataset part of the pool, where
      D_i's classes have no ground truth), how often student i already predicts teacher i's class;
    - ``cross_conf``: teacher i's mean max-probability there (how peaked its targets are).

    Returns:
        ``{'datasets': {name: {...}}}``.
    """
    import numpy as np
    import torch

    from jedi_repro.data.feature_store import FeatureStore
    from jedi_repro.models.jedi_model import JEDIModel
    run_dir = Path(metrics_path).parent
    m = json.loads(Path(metrics_path).read_text())
    model_cfg = dict((m.get('config') or {}).get('model') or {})
    store = FeatureStore.open(model_cfg.pop('store'), check_values=False)
    model_cfg.pop('type', None)
    model_cfg.pop('data_preprocessor', None)
    # each role at the checkpoint it was tested at (metrics.json 'selection')
    selected = {role: (m.get('selection') or {}).get(role, {}).get('checkpoint') or m['best_checkpoint']
                for role in ('expert', 'student', 'teacher')}
    models = {}
    for name in set(selected.values()):
        models[name] = JEDIModel(store=store, **model_cfg)
        ckpt = torch.load(run_dir / name, map_location='cpu', weights_only=True)
        models[name].load_state_dict(ckpt['state_dict'])
        models[name].eval()

    def outputs(ds_name, i):
        feats = [torch.from_numpy(np.array(store.features(e, ds_name, 'train'), np.float32))
                 for e in store.expert_names]
        with torch.no_grad():
            out = {name: model(feats, dataset=i, mode='tensor') for name, model in models.items()}
        return {role: out[name][role] for role, name in selected.items()}

    out = {}
    names = store.dataset_names
    for i, ds in enumerate(names):
        mask = np.asarray(store.labeled_mask(ds))
        y = np.asarray(store.labels(ds, 'train'))
        o = outputs(ds, i)
        row = {}
        if (~mask).any():
            for role in ('expert', 'student', 'teacher'):
                row[f'pl_{role}'] = float((o[role].argmax(1).numpy()[~mask] == y[~mask]).mean())
        agree, conf, n = 0.0, 0.0, 0
        for ds_j in names:
            if ds_j == ds:
                continue
            oj = outputs(ds_j, i)  # dataset i's heads applied to dataset j's samples
            t = oj['teacher'].softmax(1)
            agree += float((oj['student'].argmax(1) == t.argmax(1)).float().sum())
            conf += float(t.max(1).values.sum())
            n += len(t)
        row['cross_agree'], row['cross_conf'] = agree / max(n, 1), conf / max(n, 1)
        out[ds] = row
    return {'datasets': out}


# ------------------------------------------------------------------------------------------ studies
def study_spec_path(setting: str) -> Path:
    return REPO / 'studies' / f'yt8m_{setting}.yaml'


def study_specs(setting: str) -> list[Path]:
    """The study specs of a setting: ``studies/yt8m_<setting>_{kd,gamma0,student,fusion}.yaml``."""
    return [REPO / 'studies' / f'yt8m_{setting}_{part}.yaml' for part in STUDY_PARTS]


def run_setting_study(setting: str, workers: int) -> dict:
    """Run the setting's studies and collect every seed's metrics.json."""
    from jedi_repro.errors import JediError
    try:
        from jedi_repro.studies.runner import run_study
        from jedi_repro.studies.spec import load_spec
    except ImportError as exc:  # the study stage is another engineer's; say plainly what is missing
        raise JediError(f'jedi bench yt8m: the study stage is not available ({exc}); '
                        'run with --skip-studies to stop after the feature stores') from exc
    names, seeds, summaries, runs = [], None, {}, []
    for spec_path in study_specs(setting):
        spec = load_spec(spec_path)
        _log(f'[{setting}] study {spec.name}: {spec_path.relative_to(REPO)} ({len(spec.seeds)} seeds)')
        summary = run_study(spec_path, workers=workers)
        names.append(spec.name)
        seeds = spec.seeds
        summaries[spec.name] = {k: summary[k] for k in ('counts', 'wall_s')}
        runs += collect_runs(spec.name)
    return dict(studies=names, seeds=seeds, study_summary=summaries, runs=runs)


def variant_name(cfg: dict) -> str:
    """The row name of a trained configuration (from metrics.json's ``config``)."""
    hooks = cfg.get('custom_hooks')
    distills = any(isinstance(h, dict) and h.get('type') == 'JEDIDistillHook' for h in hooks or [])
    if hooks is not None and not distills:
        return STUDENT_ONLY  # no teachers, no KD: gamma and fusion do not apply
    model = cfg.get('model', {})
    fusion = (model.get('fusion') or {}).get('type', '?')
    gamma = float(model.get('gamma', float('nan')))
    # runs from before model.kd_reduction existed reduced KD over the pool batch
    reduction = model.get('kd_reduction', 'pool_mean')
    if gamma == 0:
        return 'gamma=0 (concat)' if fusion == 'concat' else f'fusion={fusion}, g=0'
    if fusion == 'concat':
        name = f'concat, g={gamma:g}, {reduction}'
        return f'paper ({name})' if abs(gamma - 0.4) < 1e-9 and reduction == 'dataset_sum' else name
    suffix = '' if abs(gamma - 0.4) < 1e-9 else f', g={gamma:g}'
    return f'fusion={fusion}{suffix}' + ('' if reduction == 'dataset_sum' else f', {reduction}')


def collect_runs(study: str) -> list[dict]:
    """Every seed's metrics.json of a study (``$JEDI_HOME/work_dirs/<study>/trial_*/seed_*``)."""
    from jedi_repro import workspace
    runs = []
    for f in sorted(workspace.work_dir(study).glob('trial_*/seed_*/metrics.json')):
        m = json.loads(f.read_text())
        runs.append(dict(variant=variant_name(m.get('config') or {}), seed=m.get('seed'), metrics=m,
                         path=str(f)))
    return runs


def setting_report(studies: list[str], out_dir: Path) -> str | None:
    """The project's generic study report (``jedi_repro.reporting``) under ``out_dir``, if available."""
    try:
        from jedi_repro.reporting.report import write_report
    except ImportError as exc:
        _log(f'  (generic study report skipped: jedi_repro.reporting is not available: {exc})')
        return None
    argv = ['jedi', 'report', *[a for st in studies for a in ('--study', st)], '--out', str(out_dir)]
    path = write_report(out_dir, studies=list(studies), title=f'JEDI on YouTube-8M: {", ".join(studies)}',
                        argv=argv)
    keep_md_png_csv(out_dir)
    return str(path)


def keep_md_png_csv(report_dir: Path) -> None:
    """The committed benchmark report holds Markdown, PNG and CSV only: drop other files (LaTeX tables)
    and the Markdown links to them."""
    import re
    dropped = []
    for f in sorted(Path(report_dir).rglob('*')):
        if f.is_file() and f.suffix.lower() not in ('.md', '.png', '.csv'):
            dropped.append(f.name)
            f.unlink()
    for md in Path(report_dir).rglob('*.md'):
        text = md.read_text()
        new = re.sub(r' · \[LaTeX\]\([^)]*\)', '', text)
        new = re.sub(r'\[LaTeX\]\([^)]*\)', '', new)
        if new != text:
            _atomic_write(md, new)


# ------------------------------------------------------------------------------------------ report
def results_frame(results: dict):
    """Long table: setting, variant, seed, dataset (or mean), role, top1, mean_class."""
    import pandas as pd
    rows = []
    for name, res in results.items():
        for r in res.get('runs', []):
            m = r['metrics']
            blocks = {**m.get('datasets', {}), 'mean': m.get('mean', {})}
            converged = (m.get('convergence') or {}).get('converged')
            for ds, roles in blocks.items():
                for role, vals in roles.items():
                    rows.append(dict(setting=name, variant=r['variant'], seed=r['seed'], dataset=ds,
                                     role=role, top1=vals.get('top1'), mean_class=vals.get('mean_class'),
                                     converged=converged))
    return pd.DataFrame(rows)


def _pm(values) -> str:
    import numpy as np
    v = np.asarray(values, float) * 100
    return f'{v.mean():.1f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.1f}'


def _teacher(variant: str, values) -> str:
    """A teacher cell; the student-only baseline has no trained teachers, so no teacher figure."""
    return 'no teachers' if variant == STUDENT_ONLY else _pm(values)


def _md(rows: list[dict]) -> str:
    """A Markdown pipe table with the reporting package's writer (the same as ``jedi report``'s)."""
    import pandas as pd

    from jedi_repro.reporting.writers import markdown_table
    return markdown_table(pd.DataFrame(rows))


def main_rows(frame) -> list[dict]:
    """Mean over datasets, mean ± std over seeds: expert / student / teacher top-1 and mean class acc."""
    rows = []
    for (setting, variant), g in _ordered_groups(frame[frame.dataset == 'mean']):
        piv = g.pivot_table(index='seed', columns='role', values=['top1', 'mean_class'])
        d = piv['top1']['student'] - piv['top1']['expert']
        conv = g[g.role == 'student'].set_index('seed').converged
        plateau = 'n/a' if conv.isna().all() else f'{int(conv.fillna(False).astype(bool).sum())}/{len(conv)}'
        rows.append({'setting': setting, 'variant': variant, 'seeds': len(piv),
                     'expert top-1': _pm(piv['top1']['expert']), 'student top-1': _pm(piv['top1']['student']),
                     'teacher top-1': _teacher(variant, piv['top1']['teacher']), 'student - expert': _pm(d),
                     'seeds student > expert': f'{int((d > 0).sum())}/{len(d)}',
                     'expert mca': _pm(piv['mean_class']['expert']),
                     'student mca': _pm(piv['mean_class']['student']),
                     'teacher mca': _teacher(variant, piv['mean_class']['teacher']),
                     'plateau reached': plateau})
    return rows


def main_table(frame) -> str:
    if frame.empty:
        return '_no JEDI runs: the studies were skipped or produced no metrics.json_'
    return _md(main_rows(frame))


def _ordered_groups(frame):
    groups = dict(tuple(frame.groupby(['setting', 'variant'], sort=False)))
    settings = list(dict.fromkeys(frame.setting))
    order = {v: i for i, v in enumerate(VARIANT_ORDER)}
    keys = sorted(groups, key=lambda k: (settings.index(k[0]), order.get(k[1], 99), k[1]))
    return [(k, groups[k]) for k in keys]


def per_dataset_rows(frame) -> list[dict]:
    """Per dataset: student and teacher minus expert (top-1, points), mean ± std over seeds."""
    rows = []
    for (setting, variant), g in _ordered_groups(frame[frame.dataset != 'mean']):
        for ds, h in g.groupby('dataset', sort=False):
            piv = h.pivot_table(index='seed', columns='role', values='top1')
            rows.append({'setting': setting, 'variant': variant, 'dataset': ds,
                         'expert top-1': _pm(piv['expert']),
                         'student - expert': _pm(piv['student'] - piv['expert']),
                         'teacher - expert': _teacher(variant, piv['teacher'] - piv['expert'])})
    return rows


def per_dataset_table(frame) -> str:
    return _md(per_dataset_rows(frame)) if not frame.empty else ''


def teacher_frame(results: dict):
    """Long table of :func:`teacher_diagnostics` rows: setting, variant, seed, dataset, measures."""
    import pandas as pd
    rows = [dict(setting=name, variant=d['variant'], seed=d['seed'], dataset=ds, **vals)
            for name, res in results.items() for d in res.get('teacher_diag', [])
            if d['variant'] != STUDENT_ONLY
            for ds, vals in d['datasets'].items()]
    return pd.DataFrame(rows)


def teacher_rows(tframe) -> list[dict]:
    """Pseudo-label accuracy on own unlabelled train samples and cross-dataset agreement (mean over seeds)."""
    names = {'pl_expert': 'expert', 'pl_student': 'student', 'pl_teacher': 'teacher',
             'cross_agree': 'student = teacher on other datasets',
             'cross_conf': 'teacher confidence on other datasets'}
    rows = []
    for (setting, variant), g in _ordered_groups(tframe):
        for ds, h in g.groupby('dataset', sort=False):
            rows.append({'setting': setting, 'variant': variant, 'dataset': ds,
                         **{label: f'{100 * h[c].mean():.1f}' if c in h and h[c].notna().any() else 'n/a'
                            for c, label in names.items()}})
    return rows


def teacher_table(tframe) -> str:
    return _md(teacher_rows(tframe)) if not tframe.empty else '_no JEDI runs_'


def experts_frame(results: dict):
    """One row per expert: what it sees, its size, labelled videos, val/test accuracy, training time."""
    import pandas as pd
    return pd.DataFrame([dict(setting=name, expert=e, dataset=s['dataset'], modality=s['modality'],
                              hidden=s['hidden'], num_layers=s['num_layers'], n_labeled=s['n_labeled'],
                              val_top1=s['val'].get('acc/top1'), test_top1=s['test_top1'],
                              test_mean_class=s['test_mean_class'], train_s=s['train_s'])
                         for name, res in results.items() for e, s in res['experts'].items()])


def experts_table(results: dict) -> str:
    return _md([{'setting': r.setting, 'expert': r.expert, 'sees': r.modality,
                 'hidden x layers': f'{r.hidden} x {r.num_layers}', 'labelled videos': r.n_labeled,
                 'val top-1': f'{100 * (r.val_top1 if r.val_top1 is not None else float("nan")):.1f}',
                 'test top-1': f'{100 * r.test_top1:.1f}', 'test mca': f'{100 * r.test_mean_class:.1f}',
                 'train s': f'{r.train_s:.1f}'} for r in experts_frame(results).itertuples()])


def probes_frame(results: dict):
    """Tidy probe results: setting, dataset, features (own_head, an expert, all, pseudo_label_*), top-1."""
    import pandas as pd
    rows = []
    for name, res in results.items():
        for ds, row in res['probes'].items():
            rows.append((name, ds, 'own_head', row['own_head']))
            rows += [(name, ds, e, v) for e, v in row['expert_probe'].items()]
            rows.append((name, ds, 'all', row['all']))
            if 'pseudo_label_top1_all' in row:
                rows.append((name, ds, 'pseudo_label_own_head', row['pseudo_label_top1_own_head']))
                rows.append((name, ds, 'pseudo_label_all', row['pseudo_label_top1_all']))
    return pd.DataFrame(rows, columns=['setting', 'dataset', 'features', 'test_top1'])


def probes_table(results: dict) -> str:
    lines = []
    for name, res in results.items():
        experts = list(res['experts'])
        rows = []
        for ds, row in res['probes'].items():
            pl = (f'{100 * row["pseudo_label_top1_own_head"]:.1f} / {100 * row["pseudo_label_top1_all"]:.1f}'
                  if 'pseudo_label_top1_all' in row else 'n/a')
            rows.append({'dataset': ds, 'own head': f'{100 * row["own_head"]:.1f}',
                         **{e: f'{100 * row["expert_probe"][e]:.1f}' for e in experts},
                         'all (concat)': f'{100 * row["all"]:.1f}',
                         'pseudo-label acc (own head / all probe) on unlabelled train': pl})
        lines += [f'**{name}** (test top-1 %; rows: dataset, columns: whose frozen features the probe '
                  'reads)', '', _md(rows), '']
    return '\n'.join(lines)


def write_bench_report(out: Path, results: dict, timings: dict, argv: list[str]) -> None:
    """``out/README.md`` + CSVs + a PNG: the cut, the experts, the main table, the diagnostics, wall time."""
    import platform

    from jedi_repro.data import yt8m
    out.mkdir(parents=True, exist_ok=True)
    frame = results_frame(results)
    tframe = teacher_frame(results)
    if not tframe.empty:
        _atomic_write(out / 'teacher_diagnostics.csv', tframe.to_csv(index=False))
    if not frame.empty:
        _atomic_write(out / 'results.csv', frame.to_csv(index=False))
        _delta_figure(frame, out / 'student_minus_expert.png')
    first = next(iter(results.values()))
    runs = [r for res in results.values() for r in res.get('runs', [])]
    train_s = sum(float(r['metrics'].get('wall_s') or 0.0) for r in runs)
    parts = [
        '# JEDI on YouTube-8M video-level features', '',
        f'Command: `{" ".join(argv)}`. Wall time of this call: '
        f'**{timings["total"] / 60:.1f} min** on '
        f'{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), shared with other '
        'jobs while it ran (so this is an upper bound); stages and studies finished by an earlier call are '
        f'reused and take no time here. The {len(runs)} JEDI trainings behind the tables took '
        f'{train_s / 60:.1f} min in all (the sum of their `wall_s`, whichever call ran them).', '',
        'Per-setting study reports (statistics, learning curves, ablation plots): '
        + ', '.join(f'[{n}]({n}/report.md)' for n, r in results.items() if r.get('report')) + '.', '',
        '## Datasets (cut from verticals; `jedi_repro/data/yt8m.py`)', '',
        yt8m.describe_cut(first['cut']), '',
        '## Experts (one per dataset, trained on its labelled train subset only)', '',
        experts_table(results), '',
        '## Main table (mean over datasets; mean ± std over seeds, %)', '',
        'Test split. Each role is tested at the checkpoint its own mean validation top-1 selected; every '
        'run trains until neither improved for `patience` epochs ("plateau reached": runs that stopped '
        'there rather than at `max_epochs`). Nothing here is chosen on test.', '',
        main_table(frame), '',
        '## Per dataset (top-1, points relative to the expert)', '',
        per_dataset_table(frame), '',
        '## Diagnostics: what the frozen experts know (linear probes on the stores)', '',
        'A softmax regression on frozen features, fit on the dataset\'s labelled train samples only. "all '
        '(concat)" reads every expert\'s features: the information a teacher can use (before adjustment). '
        'Pseudo-label accuracy: on the dataset\'s unlabelled train samples, own expert head vs that '
        'probe.', '',
        probes_table(results),
        '## Diagnostics: the trained teachers\' targets (best checkpoint of every run; %, mean over '
        'seeds)', '',
        'expert / student / teacher: top-1 on the dataset\'s *unlabelled* train samples (the labels JEDI '
        'does not see), i.e. the accuracy of the pseudo-labels the KD term distils there. The last two '
        'columns are measured on the other datasets\' train samples, where this dataset\'s classes have no '
        'ground truth.', '',
        teacher_table(tframe), '',
        '## Wall time (s)', '',
        '| stage | s |', '|---|---:|', *[f'| {k} | {v:.1f} |' for k, v in timings.items()], '',
    ]
    _atomic_write(out / 'README.md', portable_text('\n'.join(parts)))  # shared: no machine paths
    _atomic_write(out / 'experts.csv', experts_frame(results).to_csv(index=False))
    _atomic_write(out / 'probes.csv', probes_frame(results).to_csv(index=False))


def _delta_figure(frame, path: Path) -> None:
    """Student minus expert per dataset (paper setting), one bar per setting: ``reporting.figures``."""
    from jedi_repro.reporting import figures, stats
    per = frame[(frame.dataset != 'mean') & (frame.variant == VARIANT_ORDER[0])]
    if per.empty:
        return
    datasets = list(dict.fromkeys(per.dataset))
    series = {}
    for s in dict.fromkeys(per.setting):
        series[s] = []
        for ds in datasets:
            piv = per[(per.setting == s) & (per.dataset == ds)].pivot_table(index='seed', columns='role',
                                                                           values='top1')
            series[s].append(stats.summarize(list(piv['student'] - piv['expert'])))
    figures.delta_bars(datasets, series, path, 'student - expert top-1 (points, 95% CI)',
                       'JEDI paper setting on YouTube-8M: student gain over its expert')
