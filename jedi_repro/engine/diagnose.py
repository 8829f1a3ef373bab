"""``jedi diagnose STORE``: will distillation help the students here? A short pilot, with its measured power.

The estimate is a **pilot**: JEDI (the config's gamma) and the same with gamma = 0 (no KD term), trained on
the store for a few seeds (default 0 and 1) at the regime maps' budget; per dataset, the students' mean
paired difference in validation top-1 (JEDI minus gamma = 0). It answers on any store JEDI trains on,
fully labelled included (the pool JEDI distils on is every train sample of every dataset). What it can
assess is checked first, before any training: a multi-label dataset, a dataset with fewer than two
classes or without a validation split is skipped and named; only a store with nothing to assess is refused.

Why a pilot and not a cheap indicator: on the regime maps the cheap indicators measured from one gamma = 0
run (headroom = teacher minus student; a linear probe on the student's own expert features fit to the
teacher's predictions on the pool: ``probe_indicators``) did not rank the measured KD gain (Spearman rho
below 0.5 or p >= 0.05; ``reports/regimes/README.md``, ``reports/regimes_overlap/README.md``). The pilot is
validated the same way, on held-out seeds and the test split (``jedi bench regimes`` writes
``diagnostic_validation.json``); the screen states that validation.
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jedi_repro.errors import JediError

#: the pilot: these seeds, at the regime maps' JEDI budget (what the committed validation measured)
PILOT_SEEDS = (0, 1)
PILOT_OPTIONS = {'train_cfg.max_epochs': 30, 'default_hooks.plateau.patience': 5,
                 'data.unlabeled_batch_size': 256}
#: |estimate| below this many points: "no clear effect"
MIN_POINTS = 0.5
#: the committed validation of the pilot (written by `jedi bench regimes` for the overlap map)
VALIDATION_FILES = ('reports/regimes_overlap/diagnostic_validation.json',
                    'reports/regimes/diagnostic_validation.json')


# ------------------------------------------------------------------ arithmetic (pure)
def top1(pred: Sequence[int], y: Sequence[int]) -> float:
    """Fraction of ``pred == y`` (NaN for no samples)."""
    pred, y = np.asarray(pred), np.asarray(y)
    if pred.shape != y.shape:
        raise ValueError(f'prediction shape {pred.shape} != label shape {y.shape}')
    return float((pred == y).mean()) if len(y) else float('nan')


def headroom(teacher_top1: float, student_top1: float) -> float:
    """Teacher minus student top-1 (fractions in, a fraction out)."""
    return float(teacher_top1) - float(student_top1)


def kd_estimate(probe_top1: float, student_top1: float) -> float:
    """The probe indicator: probe top-1 minus student top-1 (fractions)."""
    return float(probe_top1) - float(student_top1)


def gain_set_transfer(y, student_pred, teacher_pred, probe_pred) -> float:
    """Of the samples the teacher gets right and the student wrong, the share the probe gets right (NaN
    when there are none)."""
    y, s, t, p = (np.asarray(a) for a in (y, student_pred, teacher_pred, probe_pred))
    gain = (t == y) & (s != y)
    return float((p[gain] == y[gain]).mean()) if gain.any() else float('nan')


def pilot_gain(jedi: dict, gamma0: dict) -> tuple[float, int]:
    """Mean paired difference JEDI minus gamma = 0 over the seeds both have: ``(mean, n seeds)``.

    Args:
        jedi: seed -> the students' validation top-1 under JEDI.
        gamma0: seed -> the same under gamma = 0.
    """
    seeds = sorted(set(jedi) & set(gamma0))
    if not seeds:
        return float('nan'), 0
    return float(np.mean([jedi[s] - gamma0[s] for s in seeds])), len(seeds)


def verdict(estimate: float, min_points: float = MIN_POINTS) -> str:
    """One line from the pilot's estimate (a fraction)."""
    if not np.isfinite(estimate):
        return 'not estimated'
    if estimate * 100 >= min_points:
        return 'distillation helped the student in the pilot'
    if estimate * 100 <= -min_points:
        return 'distillation hurt the student in the pilot'
    return f'no clear effect in the pilot (|JEDI - gamma=0| < {min_points} points)'


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, int]:
    """Spearman rank correlation of paired values: ``(rho, two-sided p, n)`` (NaN pairs dropped)."""
    from scipy import stats
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    n = int(keep.sum())
    if n < 3 or np.ptp(x[keep]) == 0 or np.ptp(y[keep]) == 0:
        return float('nan'), float('nan'), n
    res = stats.spearmanr(x[keep], y[keep])
    return float(res.statistic), float(res.pvalue), n


def sign_agreement(estimates: Sequence[float], gains: Sequence[float],
                   cis: Sequence[float]) -> tuple[int, int]:
    """Among the points whose measured gain's 95% interval excludes 0 (``|gain| > ci``), how many the
    estimate gets the sign of: ``(right, of)``."""
    right = of = 0
    for e, g, c in zip(estimates, gains, cis):
        if not (np.isfinite(e) and np.isfinite(g) and c is not None and np.isfinite(c)) or abs(g) <= c:
            continue
        of += 1
        right += int(np.sign(e) == np.sign(g))
    return right, of


# ------------------------------------------------------------------ what can be assessed (before training)
def check_store(store) -> tuple[list[str], dict[str, str]]:
    """Datasets the pilot can assess, and the others with the reason; nothing is trained.

    Raises:
        JediError: when no dataset can be assessed (the message names each reason).
    """
    ok, skipped = [], {}
    for ds in store.dataset_names:
        info = store.dataset(ds)
        if info.get('multilabel'):
            skipped[ds] = 'multi-label (the estimate is single-label top-1)'
        elif len(info['classes']) < 2:
            skipped[ds] = 'fewer than two classes'
        elif 'val' not in store.splits(ds) or len(store.labels(ds, 'val')) == 0:
            skipped[ds] = 'no validation split (the pilot is read on validation)'
        else:
            ok.append(ds)
    if not ok:
        raise JediError(f'feature store {store.path}: no dataset can be assessed: '
                        + '; '.join(f'{d}: {r}' for d, r in skipped.items()))
    return ok, skipped


# ------------------------------------------------------------------ the pilot
def _lookup(cfg: dict, dotted: str):
    node = cfg
    for part in dotted.split('.'):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _finished(run_dir: Path, seed: int, features_hash: str, options: dict) -> dict | None:
    """The run's metrics.json when it is a finished run of exactly this configuration."""
    path = run_dir / 'metrics.json'
    if not path.is_file():
        return None
    m = json.loads(path.read_text())
    cfg = m.get('config') or {}
    same = (m.get('seed') == seed and m.get('features_hash') == features_hash
            and all(_lookup(cfg, k) == v for k, v in options.items()))
    return m if same else None


def _val_top1(metrics: dict, ds: str) -> float | None:
    per = ((metrics.get('val') or {}).get('datasets') or {}).get(ds) or {}
    return (per.get('student') or {}).get('top1')


def pilot(features, work_dir=None, config=None, seeds: Sequence[int] = PILOT_SEEDS,
          cfg_options: dict | None = None, log=print) -> dict:
    """Check the store, then train JEDI and gamma = 0 per seed; per dataset the students' validation gain.

    Args:
        features: feature store directory.
        work_dir: where the pilot's runs go (default ``$JEDI_HOME/diagnose/<store hash>``); finished runs of
            the same configuration there are reused.
        config: JEDI config (default ``mm_configs/jedi/jedi_default.py``; its gamma is JEDI's).
        seeds: pilot seeds.
        cfg_options: overrides on top of :data:`PILOT_OPTIONS` (both variants).
        log: progress lines.

    Returns:
        ``{'datasets': {name: {estimate, n_seeds, jedi_val, gamma0_val, verdict}}, 'skipped': {name:
        reason}, 'runs', 'minutes', ...}``.

    Raises:
        JediError: a bad store or config; a store with no dataset to assess (before any training).
    """
    from jedi_repro import workspace
    from jedi_repro.data.feature_store import FeatureStore
    from jedi_repro.engine.train import train

    t0 = time.perf_counter()
    store = FeatureStore.open(features)
    assess, skipped = check_store(store)  # before any training
    if not seeds:
        raise JediError('jedi diagnose: --seeds is empty')
    config = config or str(workspace.checkout_root() / 'mm_configs' / 'jedi' / 'jedi_default.py')
    fhash = store.content_hash()
    work_dir = Path(work_dir or workspace.path('diagnose', fhash[:16]))
    base = {**PILOT_OPTIONS, **(cfg_options or {})}
    vals: dict[str, dict[str, dict[int, float]]] = {'jedi': {}, 'gamma0': {}}
    runs, reused = [], 0
    for seed in seeds:
        for variant in ('jedi', 'gamma0'):
            options = {**base, 'model.gamma': 0.0} if variant == 'gamma0' else dict(base)
            run_dir = work_dir / variant / f'seed_{seed}'
            m = _finished(run_dir, int(seed), fhash, options)
            if m is None:
                log(f'diagnose: pilot {variant} seed {seed} in {run_dir}')
                m = train(config, features=store.path, work_dir=run_dir, cfg_options=options, seed=int(seed),
                          resume=False)
            else:
                reused += 1
            runs.append(str(run_dir))
            for ds in assess:
                v = _val_top1(m, ds)
                if v is not None:
                    vals[variant].setdefault(ds, {})[int(seed)] = float(v)
    out = {}
    for ds in assess:
        jv, gv = vals['jedi'].get(ds, {}), vals['gamma0'].get(ds, {})
        est, n = pilot_gain(jv, gv)
        out[ds] = dict(estimate=est, n_seeds=n, jedi_val=float(np.mean(list(jv.values()))) if jv else None,
                       gamma0_val=float(np.mean(list(gv.values()))) if gv else None, verdict=verdict(est))
    return dict(store=str(store.path), features_hash=fhash, seeds=[int(s) for s in seeds], options=base,
                runs=runs, reused_runs=reused, datasets=out, skipped=skipped,
                minutes=(time.perf_counter() - t0) / 60)


# ------------------------------------------------------------------ cheap indicators (validated, not shipped)
def probe_indicators(features, run_dir) -> dict:
    """Cheap indicators from one finished gamma = 0 run, per single-label dataset (validation split).

    headroom (teacher minus student), and a linear probe on the student's own expert features fit to the
    teacher's predictions on the pool JEDI distils on (every train sample of every dataset): its agreement
    with the teacher, its top-1, and ``kd_estimate`` = probe minus student. The regime maps measure how
    well these rank the KD gain (they did not; see the module docstring).
    """
    import torch

    from jedi_repro.data.feature_store import FeatureStore
    from jedi_repro.experts.video_level_expert import linear_probe
    from jedi_repro.models.jedi_model import JEDIModel
    store = FeatureStore.open(features)
    run_dir = Path(run_dir)
    m = json.loads((run_dir / 'metrics.json').read_text())
    assess, _ = check_store(store)

    def model_at(role):
        cfg = dict((m.get('config') or {}).get('model') or {})
        for k in ('store', 'type', 'data_preprocessor'):
            cfg.pop(k, None)
        ckpt = ((m.get('selection') or {}).get(role) or {}).get('checkpoint') or m['best_checkpoint']
        model = JEDIModel(store=store, **cfg)
        model.load_state_dict(torch.load(run_dir / ckpt, map_location='cpu', weights_only=True)['state_dict'])
        return model.eval()

    def predict(model, ds, split, role, i):
        feats = [torch.from_numpy(np.array(store.features(e, ds, split), np.float32))
                 for e in store.expert_names]
        with torch.no_grad():
            return model(feats, dataset=i, mode='tensor')[role].argmax(1).numpy()

    student, teacher = model_at('student'), model_at('teacher')
    names = list(store.dataset_names)
    out = {}
    for ds in assess:
        i = names.index(ds)
        own = next(e for e in store.expert_names if store.expert(e)['dataset'] == ds)
        # teacher i's targets on the pool: every train sample of every dataset, as JEDI's KD term sees it
        x_pool = np.concatenate([np.asarray(store.features(own, d, 'train'), np.float32) for d in names])
        t_pool = np.concatenate([predict(teacher, d, 'train', 'teacher', i) for d in names])
        y_val = np.asarray(store.labels(ds, 'val'))
        s_val, t_val = predict(student, ds, 'val', 'student', i), predict(teacher, ds, 'val', 'teacher', i)
        x_val = np.asarray(store.features(own, ds, 'val'), np.float32)
        p_val = linear_probe(x_pool, t_pool, x_val, len(store.dataset(ds)['classes'])).argmax(1)
        s1, t1, p1 = top1(s_val, y_val), top1(t_val, y_val), top1(p_val, y_val)
        out[ds] = dict(student_top1=s1, teacher_top1=t1, headroom=headroom(t1, s1), probe_top1=p1,
                       agreement=top1(p_val, t_val), kd_estimate=kd_estimate(p1, s1),
                       gain_set_transfer=gain_set_transfer(y_val, s_val, t_val, p_val))
    return out


# ------------------------------------------------------------------ the screen
def load_validation() -> dict | None:
    """The committed validation of the pilot (the first file of :data:`VALIDATION_FILES` that exists)."""
    from jedi_repro.workspace import checkout_root
    for rel in VALIDATION_FILES:
        path = checkout_root() / rel
        if path.is_file():
            return {**json.loads(path.read_text()), 'file': rel}
    return None


def validation_line(v: dict | None) -> str:
    """What the pilot's estimate is worth, as measured on the regime maps."""
    if not v:
        return ('Predictive power: not validated in this installation (the validation is written by '
                '`jedi bench regimes`); treat the estimate as a pilot, not a prediction.')
    p = v['pilot']
    txt = (f'Predictive power (measured, {v["file"]}: {v["command"]}): Spearman rho {p["rho"]:.2f} '
           f'(p = {p["p"]:.2g}, {p["n"]} cell x dataset points of {", ".join(v["maps"])}) between this '
           f'estimate and the students\' measured test gain on held-out seeds; sign right in '
           f'{p["sign_right"]} of {p["sign_of"]} points whose measured gain\'s 95% interval excludes 0.')
    if not (p['rho'] >= 0.5 and p['p'] < 0.05):
        txt += ' That is below rho 0.5 at p < 0.05: a weak predictor.'
    return txt + ' ' + v.get('scope', '')


def format_screen(result: dict, validation: dict | None = None) -> str:
    """The one-screen answer: a line per dataset (points), what was skipped, and the measured power."""
    def pct(x):
        return 'n/a' if x is None or not np.isfinite(x) else f'{100 * x:5.1f}'

    lines = [f'Does distillation help the students? {result["store"]}',
             f'(pilot: JEDI vs gamma=0, seeds {", ".join(map(str, result["seeds"]))}, validation split; '
             f'{len(result["runs"])} runs, {result["reused_runs"]} reused; {result["minutes"]:.1f} min)', '',
             f'{"dataset":<24}{"JEDI":>7}{"gamma=0":>9}{"JEDI - gamma=0":>16}  verdict']
    for ds, r in result['datasets'].items():
        est = r['estimate']
        d = 'n/a' if not np.isfinite(est) else f'{100 * est:+.1f}'
        lines.append(f'{ds:<24}{pct(r["jedi_val"]):>7}{pct(r["gamma0_val"]):>9}{d:>16}  {r["verdict"]}')
    for ds, why in result.get('skipped', {}).items():
        lines.append(f'{ds:<24} not assessed: {why}')
    lines += ['', validation_line(validation)]
    return '\n'.join(lines)
