"""``jedi diagnose STORE``: can distillation help here? A cheap per-dataset estimate, before any study.

Two measurements per dataset i, from one short gamma = 0 run (students and teachers trained on the
labelled samples only, no KD) and one linear probe:

* **headroom**: teacher i minus student i, top-1 on validation. KD moves the student towards the
  teacher; with no headroom there is nothing to move towards.
* **transferability**: a softmax regression on expert i's *raw* features (what student i reads), fit on
  D_i's unlabelled train samples to the teacher's predicted classes there (the targets KD would give),
  then scored on the validation samples: ``agreement`` with the teacher, and ``probe top-1`` against the
  labels. The probe is a student distilled from the teacher alone, with a linear map on its own features.

The estimate is ``probe top-1 - student top-1`` (points; ``kd_estimate``): what a student that learnt the
teacher's targets as well as a linear map on its own features can would gain over the student trained on
labels alone. The map (``jedi bench regimes``) measures how well this ranks the real KD gain (JEDI minus
gamma = 0) across cells and datasets: on YouTube-8M it did not (``reports/regimes/README.md``), and the
screen says so.
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jedi_repro.errors import JediError

# the short run: the paper's settings with gamma = 0, few epochs, a short plateau
SHORT_RUN = {'model.gamma': 0.0, 'train_cfg.max_epochs': 12, 'default_hooks.plateau.patience': 3}
#: below this many points of headroom (or estimated gain) the verdict says "no"
MIN_POINTS = 0.5


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


def gain_set_transfer(y, student_pred, teacher_pred, probe_pred) -> float:
    """Of the samples the teacher gets right and the student wrong, the share the probe gets right.

    These are the samples where KD can turn a student error into a correct prediction; NaN when there
    are none.
    """
    y, s, t, p = (np.asarray(a) for a in (y, student_pred, teacher_pred, probe_pred))
    gain = (t == y) & (s != y)
    return float((p[gain] == y[gain]).mean()) if gain.any() else float('nan')


def kd_estimate(probe_top1: float, student_top1: float) -> float:
    """The diagnostic's estimate of the KD gain: probe top-1 minus student top-1 (fractions)."""
    return float(probe_top1) - float(student_top1)


def verdict(head: float, estimate: float, min_points: float = MIN_POINTS) -> str:
    """One line: whether distillation can help, from headroom and estimate (fractions)."""
    if head * 100 < min_points:
        return 'unlikely: the teacher is not better than the student on validation (no headroom)'
    if estimate * 100 < min_points:
        return ("unlikely: the teacher is better, but a linear map on the student's own features cannot "
                'reproduce what it adds (low transferability)')
    return 'possible: the teacher is better and its targets are learnable from the student\'s features'


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, int]:
    """Spearman rank correlation of paired values: ``(rho, two-sided p, n)`` (NaN pairs dropped)."""
    from scipy import stats
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    n = int(keep.sum())
    if n < 3:
        return float('nan'), float('nan'), n
    res = stats.spearmanr(x[keep], y[keep])
    return float(res.statistic), float(res.pvalue), n


# ------------------------------------------------------------------ the measurement
def _role_model(metrics: dict, run_dir: Path, store, role: str):
    """The run's model at the checkpoint ``role`` was tested at (weights only)."""
    import torch

    from jedi_repro.models.jedi_model import JEDIModel
    model_cfg = dict((metrics.get('config') or {}).get('model') or {})
    for k in ('store', 'type', 'data_preprocessor'):
        model_cfg.pop(k, None)
    ckpt = ((metrics.get('selection') or {}).get(role) or {}).get('checkpoint') or metrics['best_checkpoint']
    model = JEDIModel(store=store, **model_cfg)
    model.load_state_dict(torch.load(run_dir / ckpt, map_location='cpu', weights_only=True)['state_dict'])
    return model.eval()


def _predict(model, store, ds: str, i: int, split: str, role: str) -> np.ndarray:
    import torch
    feats = [torch.from_numpy(np.array(store.features(e, ds, split), np.float32)) for e in store.expert_names]
    with torch.no_grad():
        return model(feats, dataset=i, mode='tensor')[role].argmax(1).numpy()


def diagnose(features, work_dir=None, config=None, seed: int = 0, cfg_options: dict | None = None,
             log=print) -> dict:
    """Run the short gamma = 0 run and the probes; returns ``{'datasets': {name: {...}}, ...}``.

    Args:
        features: feature store directory.
        work_dir: where the short run goes (default ``$JEDI_HOME/diagnose/<store hash>/seed_<seed>``; a
            finished run there of the same configuration is reused).
        config: JEDI config (default ``mm_configs/jedi/jedi_default.py``).
        seed: the short run's seed.
        cfg_options: overrides on top of :data:`SHORT_RUN`.
        log: progress lines.

    Raises:
        JediError: a bad store or config; a store without unlabelled train samples to probe on.
    """
    from jedi_repro import workspace
    from jedi_repro.data.feature_store import FeatureStore
    from jedi_repro.engine.train import train
    from jedi_repro.experts.video_level_expert import linear_probe

    t0 = time.perf_counter()
    store = FeatureStore.open(features)
    config = config or str(workspace.checkout_root() / 'mm_configs' / 'jedi' / 'jedi_default.py')
    work_dir = Path(work_dir or workspace.path('diagnose', store.content_hash()[:16], f'seed_{seed}'))
    options = {**SHORT_RUN, **(cfg_options or {})}
    metrics_path = work_dir / 'metrics.json'
    reused = False
    if metrics_path.is_file():
        m = json.loads(metrics_path.read_text())
        cfg = m.get('config') or {}
        reused = (m.get('seed') == seed and m.get('features_hash') == store.content_hash()
                  and all(_lookup(cfg, k) == v for k, v in options.items()))
    if not reused:
        log(f'diagnose: short gamma=0 run ({options["train_cfg.max_epochs"]} epochs at most) in {work_dir}')
        m = train(config, features=store.path, work_dir=work_dir, cfg_options=options, seed=seed,
                  resume=False)
    models = {role: _role_model(m, work_dir, store, role) for role in ('student', 'teacher')}
    out = {}
    for i, ds in enumerate(store.dataset_names):
        info = store.dataset(ds)
        mask = np.asarray(store.labeled_mask(ds))
        if mask.all():
            raise JediError(f'feature store {store.path}: dataset {ds!r} has no unlabelled train samples '
                            '(its labeled_mask is all true): there is nothing to distil on')
        own = next(e for e in store.expert_names if store.expert(e)['dataset'] == ds)
        if info['multilabel']:
            out[ds] = dict(classes=len(info['classes']), n_labeled=int(mask.sum()),
                           n_unlabeled=int((~mask).sum()), own_expert=own,
                           verdict='not estimated: a multi-label dataset (the probe is single-label)')
            continue
        y_val = np.asarray(store.labels(ds, 'val'))
        s_val = _predict(models['student'], store, ds, i, 'val', 'student')
        t_val = _predict(models['teacher'], store, ds, i, 'val', 'teacher')
        t_unl = _predict(models['teacher'], store, ds, i, 'train', 'teacher')[~mask]
        x_unl = np.asarray(store.features(own, ds, 'train'), np.float32)[~mask]
        x_val = np.asarray(store.features(own, ds, 'val'), np.float32)
        p_val = linear_probe(x_unl, t_unl, x_val, len(info['classes'])).argmax(1)
        s1, t1, p1 = top1(s_val, y_val), top1(t_val, y_val), top1(p_val, y_val)
        out[ds] = dict(classes=len(info['classes']), n_labeled=int(mask.sum()),
                       n_unlabeled=int((~mask).sum()), n_val=int(len(y_val)), own_expert=own,
                       student_top1=s1, teacher_top1=t1,
                       headroom=headroom(t1, s1), agreement=top1(p_val, t_val), probe_top1=p1,
                       gain_set_transfer=gain_set_transfer(y_val, s_val, t_val, p_val),
                       kd_estimate=kd_estimate(p1, s1))
        out[ds]['verdict'] = verdict(out[ds]['headroom'], out[ds]['kd_estimate'])
    return dict(store=str(store.path), features_hash=store.content_hash(), seed=seed, run=str(work_dir),
                reused_run=reused, short_run=options, datasets=out, wall_s=time.perf_counter() - t0)


def _lookup(cfg: dict, dotted: str):
    node = cfg
    for part in dotted.split('.'):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def format_screen(result: dict) -> str:
    """The one-screen answer: a block per dataset (percent)."""
    def pct(x):
        return 'n/a' if x is None or not np.isfinite(x) else f'{100 * x:5.1f}'

    def pts(x):
        return 'n/a' if x is None or not np.isfinite(x) else f'{100 * x:+5.1f}'

    lines = [f'Can distillation help? {result["store"]}',
             f'(short gamma=0 run, seed {result["seed"]}: {result["run"]}'
             f'{", reused" if result["reused_run"] else ""}; validation split; {result["wall_s"]:.0f} s)', '']
    for ds, r in result['datasets'].items():
        if 'headroom' not in r:
            lines += [f'{ds}: {r["verdict"]}', '']
            continue
        lines += [
            f'{ds}: {r["classes"]} classes, {r["n_labeled"]} labelled / {r["n_unlabeled"]} unlabelled train '
            f'samples, own expert {r["own_expert"]}',
            f'  student top-1 {pct(r["student_top1"])}   teacher top-1 {pct(r["teacher_top1"])}   '
            f'headroom {pts(r["headroom"])} points',
            f'  linear probe on the student\'s own features, fit to the teacher on unlabelled samples: '
            f'agrees with the teacher {pct(r["agreement"])}%, top-1 {pct(r["probe_top1"])}',
            f'  teacher-right/student-wrong samples the probe gets right: {pct(r["gain_set_transfer"])}%',
            f'  KD estimate (probe - student) {pts(r["kd_estimate"])} points: {r["verdict"]}', '']
    lines.append('Caveat: on the YouTube-8M regime map this estimate did not rank the measured KD gain (JEDI '
                 'minus gamma=0) of the students; reports/regimes/README.md ("Diagnostic"). A study with '
                 'gamma=0 beside JEDI remains the test.')
    return '\n'.join(lines)
