"""The demo's setting in JEDI's target regime: scarce labels, a teacher that knows more than each expert.

The demo's video benchmark shows where distillation cannot help (its experts already agree with what
their teachers know). This setting shows the mechanism where it can, on a constructed store
(:func:`jedi_repro.data.toy.make_toy_store`): 3 datasets, each expert sees its own noisy view of every
sample (the others' views carry information it lacks) through a miscalibrated head, and only 5% of each
train split is labelled. JEDI, gamma = 0 and student-only fine-tuning run over the same seeds; the section
reports the students' and teachers' top-1 and the paired deltas.
"""
from __future__ import annotations

import json
from pathlib import Path

#: the constructed store (see the module docstring); ``seed`` comes from ``jedi demo --seed``
STORE = dict(n_datasets=3, n_classes=5, dim=32, n_train=600, n_val=200, n_test=200, labeled_fraction=0.05,
             noise=1.0, head_noise=1.5)
VARIANTS = {'regime': {'model.gamma': [0.4, 0.0]}, 'regime_student': {'model.gamma': [0.0]}}


def build_store(path: Path, seed: int) -> Path:
    """Write the store once; a store of the same parameters is reused."""
    from jedi_repro.data.toy import make_toy_store
    params = dict(STORE, seed=seed)
    stamp = path.parent / f'{path.name}.params.json'
    if (path / 'manifest.json').is_file() and stamp.is_file() and json.loads(stamp.read_text()) == params:
        return path
    make_toy_store(path, overwrite=True, **params)
    stamp.write_text(json.dumps(params, sort_keys=True))
    return path


def specs(mode: str, features: Path, base_config: Path, seeds: list[int], max_epochs: int | None) -> dict:
    """``{study name: spec dict}``: JEDI and gamma = 0 in one grid study, student-only in another."""
    out = {}
    for part, space in VARIANTS.items():
        cfg_options = {'custom_hooks': []} if part == 'regime_student' else {}
        if max_epochs:
            cfg_options['train_cfg.max_epochs'] = max_epochs
        name = f'{mode}_{part}'
        out[name] = dict(
            name=name, description=f'demo, target regime (scarce labels, teachers know more): {part}',
            base_config=str(base_config), features=str(features), seeds=list(seeds), cfg_options=cfg_options,
            space={k: {'type': 'grid', 'values': v} for k, v in space.items()}, sampler={'type': 'grid'},
            objectives=[{'metric': 'mean/student/top1', 'direction': 'maximize'}], pruner={'type': 'none'})
    return out


def _runs(study: str) -> list[dict]:
    from jedi_repro import workspace
    files = sorted(workspace.work_dir(study).glob('trial_*/seed_*/metrics.json'))
    return [json.loads(f.read_text()) for f in files]


def _variant(m: dict) -> str:
    cfg = m.get('config') or {}
    hooks = cfg.get('custom_hooks') or []
    if not any(isinstance(h, dict) and h.get('type') == 'JEDIDistillHook' for h in hooks):
        return 'student-only'
    return 'gamma=0' if float(cfg['model']['gamma']) == 0 else 'JEDI'


def section(mode: str) -> list[str]:
    """Report lines: the students' and teachers' top-1 per variant and the paired deltas (test, %)."""
    from jedi_repro.reporting import stats
    from jedi_repro.reporting.tables import expert_cell
    by = {}
    for part in VARIANTS:
        for m in _runs(f'{mode}_{part}'):
            by.setdefault(_variant(m), {})[int(m['seed'])] = m
    if 'JEDI' not in by:
        return []

    def col(variant, role):
        return {s: m['mean'][role]['top1'] for s, m in by.get(variant, {}).items() if m['mean'].get(role)}

    def pair(a: dict, b: dict) -> str:
        seeds = sorted(set(a) & set(b))
        if not seeds:
            return 'n/a'
        t = stats.paired_t_test([a[s] for s in seeds], [b[s] for s in seeds])
        return stats.format_cell(t.diff, digits=1, signed=True) + stats.significance_mark(t.p)

    def mean(d: dict, role: str = '') -> str:
        if not d:
            return 'n/a'
        if role == 'expert':  # one expert serves every seed: no interval to show
            return expert_cell(list(d.values()))
        return stats.format_cell(stats.summarize(list(d.values())), digits=1)

    rows = ['| variant | expert | student | teacher |', '|---|---:|---:|---:|']
    for v in ('JEDI', 'gamma=0', 'student-only'):
        rows.append(f'| {v} | {mean(col(v, "expert"), "expert")} | {mean(col(v, "student"))} | '
                    f'{mean(col(v, "teacher")) if v != "student-only" else "no teachers"} |')
    s_j, t_j = col('JEDI', 'student'), col('JEDI', 'teacher')
    deltas = ['| paired delta (points) | students | teachers |', '|---|---:|---:|',
              f'| JEDI - gamma=0 (what distillation adds) | {pair(s_j, col("gamma=0", "student"))} | '
              f'{pair(t_j, col("gamma=0", "teacher"))} |',
              f'| JEDI - student-only | {pair(s_j, col("student-only", "student"))} | |',
              f'| JEDI - expert | {pair(s_j, col("JEDI", "expert"))} | {pair(t_j, col("JEDI", "expert"))} |']
    return [
        "## Where distillation can help: scarce labels, a teacher that knows more", '',
        'The benchmark above is a regime where KD has little to transfer. This one is JEDI\'s target '
        'regime, on a constructed feature store (`jedi_repro/benchmarks/demo_regime.py`, '
        '`jedi_repro.data.toy.make_toy_store` with ' + ', '.join(f'{k}={v}' for k, v in STORE.items())
        + '): each expert sees its own noisy view of every sample through a miscalibrated head, so the '
        'teachers (all views) know more than any expert, and each student\'s own view can still represent '
        'much of it; only 5% of the train samples are labelled. Test split, mean ± 95% CI over seeds (n); '
        'deltas paired by seed, * p < 0.05, ** p < 0.01.', '',
        *rows, '', *deltas, '',
        'On YouTube-8M features the same comparison, per label fraction and expert view, is in '
        '`reports/regimes/README.md` (`jedi bench regimes`).', '']
