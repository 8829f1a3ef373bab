"""Predictors of the KD gain, as the regime maps test them (there is no ``jedi diagnose`` command).

``jedi diagnose`` was removed: no estimate here predicts the students' KD gain (JEDI minus gamma = 0) on
the regime maps, and a diagnostic that does not predict should not be offered as one. What the maps test
(``jedi bench regimes``, section "Diagnostic" of ``reports/regimes_overlap/README.md``), per cell x dataset:

* a **pilot**: JEDI minus gamma = 0, the students' validation top-1, over the pilot seeds
  (:data:`PILOT_SEEDS`) at the maps' budget (:func:`pilot_gain`);
* **cheap indicators** from one gamma = 0 run (:func:`probe_indicators`): headroom (teacher minus
  student) and a linear probe on the student's own expert features fit to the teacher's predictions on the
  pool JEDI distils on (every train sample of every dataset);

each against the measured gain on held-out seeds (test split): Spearman rho (:func:`spearman`) and, where
the measured gain's 95% interval excludes 0, the share of signs right (:func:`sign_agreement`). What
cannot be assessed is named before anything is computed (:func:`check_store`).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jedi_repro.errors import JediError

#: the pilot's seeds (the maps' own runs of these seeds, at the maps' budget); the other seeds are held out
PILOT_SEEDS = (0, 1)


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


# ------------------------------------------------------------------ cheap indicators
def probe_indicators(features, run_dir) -> dict:
    """Cheap indicators from one finished gamma = 0 run, per single-label dataset (validation split).

    headroom (teacher minus student), and a linear probe on the student's own expert features fit to the
    teacher's predictions on the pool JEDI distils on (every train sample of every dataset): its agreement
    with the teacher, its top-1, and ``kd_estimate`` = probe minus student.
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
