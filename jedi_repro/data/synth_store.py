"""A synthetic feature store at the paper's sizes (``jedi features synth --preset paper``).

The paper's setting (arXiv 2308.04934; ``mm_configs/paper/``): four datasets, one expert each, every video
through every expert. :data:`PRESETS` gives the sample counts, class counts and expert dims; ``scale``
multiplies every sample count (at least ``2 x classes`` train and one row per class in val are kept,
so every class exists). At scale 1 in float16 the features are about 5.6 GiB.

How the features carry learnable, complementary signal (everything is a function of ``seed``):

* each dataset ``i`` has unit-norm class codes ``mu[i, c]`` in a shared latent space (``latent_dim``);
  a sample is its class code plus a per-sample latent jitter (the same for every expert, so the experts
  see the same video);
* expert ``k`` sees ``A_k @ (m_k * s_ki * z) + noise``: ``A_k`` its own random projection to its dim,
  ``m_k`` a random mask keeping ``view_fraction`` of the latent coordinates (each expert sees a different
  part of the code), ``s_ki`` = ``own_signal`` on its own dataset and ``cross_signal`` elsewhere (an
  expert knows its own dataset best), independent noise per expert. A teacher fusing all views recovers
  coordinates no single expert has, so it can beat every expert;
* expert ``k``'s head is a ridge-regression classifier fit in closed form on ``head_samples`` of its own
  dataset's train rows, its logit scale chosen on a third as many further rows: above chance, imperfect
  (few samples, one masked view), and a student fine-tuned on all labels can improve on it.

Rows are generated and written ``chunk`` at a time through :meth:`FeatureStoreWriter.add_features_stream`,
so the writer's memory does not grow with the store; the store appears atomically like any other.
"""
from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from jedi_repro.data.feature_store import FEATURE_DTYPES, FeatureStore, FeatureStoreWriter
from jedi_repro.errors import JediError

# name, classes, metric, {split: samples}, expert name, expert dim, expert config (mm_configs/paper/)
PRESETS = {
    'paper': [
        dict(name='kinetics400', classes=400, metric='top1', splits=dict(train=240_436, val=19_796),
             expert='tsn_r50_kinetics400', dim=2048, config='mm_configs/paper/kinetics400_tsn_r50.py'),
        dict(name='ucf101', classes=101, metric='top1', splits=dict(train=9_537, val=3_783),
             expert='c3d_ucf101', dim=4096, config='mm_configs/paper/ucf101_c3d.py'),
        dict(name='hmdb51', classes=51, metric='top1', splits=dict(train=3_570, val=1_530),
             expert='tsn_r50_hmdb51', dim=2048, config='mm_configs/paper/hmdb51_tsn_r50.py'),
        dict(name='activitynet', classes=200, metric='mAP', splits=dict(train=10_024, val=4_926),
             expert='tsn_r50_activitynet', dim=2048, config='mm_configs/paper/activitynet_tsn_r50.py'),
    ],
}


def preset_layout(preset: str, scale: float) -> list[dict]:
    """The datasets of ``preset`` with their sample counts multiplied by ``scale``."""
    if preset not in PRESETS:
        raise JediError(f'--preset {preset!r} is unknown (known: {sorted(PRESETS)})')
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and 0 < scale <= 1):
        raise JediError(f'--scale {scale!r} must be in (0, 1]')
    out = []
    for d in PRESETS[preset]:
        floor = dict(train=2 * d['classes'], val=d['classes'])
        splits = {s: max(floor[s], int(round(n * scale))) for s, n in d['splits'].items()}
        out.append(dict(d, splits=splits))
    return out


def store_bytes(layout: list[dict], dtype: str) -> int:
    """Bytes of the feature blocks of a layout (every dataset through every expert)."""
    rows = sum(sum(d['splits'].values()) for d in layout)
    return rows * sum(d['dim'] for d in layout) * np.dtype(dtype).itemsize


def _existing_parent(p: Path) -> Path:
    p = p.resolve()
    while not p.exists():
        p = p.parent
    return p


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed, *key])


def _latent_chunks(codes: np.ndarray, y: np.ndarray, jitter: float, seed: int, i: int, s: int,
                   chunk: int) -> Iterator[np.ndarray]:
    """The latent rows of dataset ``i`` split ``s``, chunk by chunk; identical on every call."""
    for c, a in enumerate(range(0, len(y), chunk)):
        yy = y[a:a + chunk]
        z = codes[yy] + jitter * _rng(seed, 2, i, s, c).standard_normal((len(yy), codes.shape[1]),
                                                                        dtype=np.float32)
        yield z


def _view(z: np.ndarray, proj: np.ndarray, mask: np.ndarray, signal: float, noise: float,
          rng: np.random.Generator) -> np.ndarray:
    x = (z * (mask * signal)) @ proj.T
    x += noise * rng.standard_normal(x.shape, dtype=np.float32)
    return x


def fit_head(x: np.ndarray, y: np.ndarray, n_cls: int, x_hold: np.ndarray, y_hold: np.ndarray,
             ridge: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form ridge classifier on ``x [n, D]`` (targets: centred one-hot), logits scaled for the CE.

    Solved in the smaller of the primal (``D x D``) and dual (``n x n``) forms; the scale of the logits is
    the one of a small grid with the lowest cross-entropy on the held-out rows ``(x_hold, y_hold)`` (on the
    fitted rows it would be overconfident).
    """
    x = x.astype(np.float64)
    mean = x.mean(0)
    xc = x - mean
    t = np.full((len(y), n_cls), -1.0 / n_cls)
    t[np.arange(len(y)), y] += 1.0
    n, dim = xc.shape
    if dim <= n:
        w = np.linalg.solve(xc.T @ xc + ridge * n * np.eye(dim), xc.T @ t)  # [D, C]
    else:
        w = xc.T @ np.linalg.solve(xc @ xc.T + ridge * n * np.eye(n), t)
    logits = (x_hold.astype(np.float64) - mean) @ w
    best = None
    for scale in (1, 2, 5, 10, 20, 50, 100, 200, 500):
        z = logits * scale
        z = z - z.max(1, keepdims=True)
        ce = float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y_hold)), y_hold]))
        if best is None or ce < best[0]:
            best = (ce, scale)
    weight = (w * best[1]).T  # [C, D]
    bias = -weight @ mean  # the centring folded into the bias
    return weight.astype(np.float32), bias.astype(np.float32)


def synth_store(out, preset: str = 'paper', scale: float = 1.0, dtype: str = 'float16', seed: int = 0,
                latent_dim: int = 96, view_fraction: float = 0.6, own_signal: float = 1.0,
                cross_signal: float = 0.7, jitter: float = 0.55, noise: float = 0.35,
                head_samples: int = 2048, chunk: int = 4096, overwrite: bool = False,
                progress=None) -> FeatureStore:
    """Write a synthetic store with the sizes of ``preset`` x ``scale`` (see the module docstring).

    Args:
        out: store directory to create.
        preset: ``paper`` (the only one).
        scale: multiplies every sample count, in (0, 1].
        dtype: ``float16`` or ``float32`` features.
        seed: everything is a function of it.
        latent_dim, view_fraction, own_signal, cross_signal, jitter, noise: the generative model.
        head_samples: own-dataset train rows each expert head is fit on.
        chunk: rows generated and written at a time (bounds the memory; the random draws are per chunk,
            so the values are a function of ``seed`` and ``chunk``).
        overwrite: replace an existing store.
        progress: optional ``callable(str)`` told about each block written.

    Returns:
        The opened store.
    """
    if dtype not in FEATURE_DTYPES:
        raise JediError(f'--dtype {dtype!r} must be one of {list(FEATURE_DTYPES)}')
    if int(chunk) < 1:
        raise JediError(f'chunk={chunk!r} must be a positive integer')
    layout = preset_layout(preset, scale)
    out = Path(out)
    if out.exists() and not overwrite:
        raise JediError(f'{out} already exists (pass --overwrite to replace it)')
    need = store_bytes(layout, dtype)
    free = shutil.disk_usage(_existing_parent(out)).free
    if need * 1.05 > free:
        raise JediError(f'{out}: the store needs {need / 2**30:.2f} GiB, {free / 2**30:.2f} GiB are free on '
                        'that file system (use a smaller --scale, --dtype float16 or another --out)')
    rng = _rng(seed, 0)
    codes = []
    for d in layout:
        c = rng.standard_normal((d['classes'], latent_dim)).astype(np.float32)
        codes.append(c / np.linalg.norm(c, axis=1, keepdims=True) * np.float32(math.sqrt(latent_dim) / 2))
    proj, masks = [], []
    for k, d in enumerate(layout):
        proj.append((_rng(seed, 1, k).standard_normal((d['dim'], latent_dim)) / math.sqrt(latent_dim))
                    .astype(np.float32))
        m = np.zeros(latent_dim, np.float32)
        m[_rng(seed, 3, k).permutation(latent_dim)[:max(1, int(round(view_fraction * latent_dim)))]] = 1
        masks.append(m)
    split_ids = {'train': 0, 'val': 1, 'test': 2}
    labels = {(i, s): _rng(seed, 4, i, split_ids[s]).integers(0, d['classes'], n_s)
              for i, d in enumerate(layout) for s, n_s in d['splits'].items()}
    for i, d in enumerate(layout):  # every class present in every split (a full confusion matrix)
        for s in d['splits']:
            labels[(i, s)][:d['classes']] = np.arange(d['classes'])
            labels[(i, s)] = _rng(seed, 5, i, split_ids[s]).permutation(labels[(i, s)])

    def view_chunks(k: int, i: int, s: str) -> Iterator[np.ndarray]:
        sig = own_signal if k == i else cross_signal
        for c, z in enumerate(_latent_chunks(codes[i], labels[(i, s)], jitter, seed, i, split_ids[s], chunk)):
            yield _view(z, proj[k], masks[k], sig, noise, _rng(seed, 6, k, i, split_ids[s], c))

    with FeatureStoreWriter(Path(out), overwrite=overwrite) as w:
        for d in layout:
            classes = [f'{d["name"]}_{c:03d}' for c in range(d['classes'])]
            w.add_dataset(d['name'], classes, metric=d['metric'])
        for k, d in enumerate(layout):
            # head: ridge fit on up to head_samples own-dataset train rows through this expert's view, its
            # logit scale chosen on the next rows (a third of as many)
            n_tr = d['splits']['train']
            m_fit = min(head_samples, (2 * n_tr) // 3)
            m = min(n_tr, m_fit + max(1, m_fit // 3))
            rows, got = [], 0
            for x in view_chunks(k, k, 'train'):
                rows.append(x[:m - got].astype(dtype).astype(np.float32))  # as the store will hold them
                got += len(rows[-1])
                if got >= m:
                    break
            x, y = np.concatenate(rows), labels[(k, 'train')][:m]
            hw, hb = fit_head(x[:m_fit], y[:m_fit], d['classes'], x[m_fit:], y[m_fit:])
            w.add_expert(d['expert'], dataset=d['name'], dim=d['dim'], head_weight=hw, head_bias=hb,
                         config=f'{d["config"]} (synthetic: preset {preset}, scale {scale:g}, seed {seed})')
        for i, d in enumerate(layout):
            for s in d['splits']:
                w.add_labels(d['name'], s, labels[(i, s)])
                for k, e in enumerate(layout):
                    w.add_features_stream(e['expert'], d['name'], s, view_chunks(k, i, s), dtype=dtype)
                    if progress:
                        progress(f'{e["expert"]} x {d["name"]}/{s}: {d["splits"][s]} x {e["dim"]}')
    return FeatureStore.open(out, check_values=False)
