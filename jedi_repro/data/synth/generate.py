"""Render a synthetic benchmark to disk: video files + MMAction2 annotation lists + metadata.

Layout (what ``jedi experts train`` and ``jedi extract`` read, see ``jedi_repro.experts.data_root``)::

    OUT/benchmark.json                     {"format": "jedi-data-root", "datasets": [...], "preset", "seed",
                                            "fingerprint"}
    OUT/<dataset>/dataset.json             classes, metric, labeled_fraction, split lists
    OUT/<dataset>/{train,val,test}.txt     MMAction2 VideoDataset lists: "videos/<split>/<id>.mp4 <label>"
    OUT/<dataset>/train_labeled.txt        the labelled subset of train (what the expert trains on)
    OUT/<dataset>/videos/<split>/*.mp4

Everything is a function of (preset, seed); the directory is written under a temporary name and renamed,
so a crash never leaves a half-written benchmark that looks complete.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from jedi_repro.data.synth.datasets import DATASETS, PRESETS, SPLITS, DatasetSpec
from jedi_repro.data.synth.motions import trajectory
from jedi_repro.data.synth.render import render_clip, write_video
from jedi_repro.errors import JediError

FORMAT = 'jedi-data-root'
VERSION = 1
# Bump when rendering changes in a way the dataset specs do not show (motions.py, render.py), so that
# cached data roots (matched by ``fingerprint``) are re-rendered.
RENDER_REVISION = 1


def fingerprint(preset: str, datasets: tuple[DatasetSpec, ...] = DATASETS) -> str:
    """sha256 of everything a rendered benchmark depends on besides the seed: the dataset specs, the
    preset's clip counts and ``RENDER_REVISION``. Recorded in ``benchmark.json``; a cached data root whose
    fingerprint differs is stale."""
    import hashlib

    text = repr((RENDER_REVISION, preset, [(d, PRESETS[preset][d.name]) for d in datasets]))
    return hashlib.sha256(text.encode()).hexdigest()


def clip_rng(seed: int, ds_index: int, split: str, index: int) -> np.random.Generator:
    """The generator of one clip: independent of every other clip, so subsets render identically."""
    return np.random.default_rng([seed, ds_index, SPLITS.index(split), index])


def labeled_subset(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Stratified labelled mask: ``ceil(fraction * n_c)`` clips of every class c (at least one).

    Args:
        labels: int labels [N].
        fraction: in (0, 1].
        rng: generator for the choice.

    Returns:
        bool mask [N].
    """
    mask = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = max(1, math.ceil(fraction * len(idx)))
        mask[rng.choice(idx, size=min(k, len(idx)), replace=False)] = True
    return mask


def render_dataset(spec: DatasetSpec, ds_index: int, counts: dict[str, int], seed: int, out: Path) -> dict:
    """Render every split of one dataset into ``out`` and return its ``dataset.json`` content."""
    classes = list(spec.classes)
    splits = {}
    n_frames = spec.domain.n_frames
    for split in SPLITS:
        per_class = counts[split]
        labels = np.repeat(np.arange(len(classes)), per_class)
        order = np.random.default_rng([seed, ds_index, SPLITS.index(split), 10**6]).permutation(len(labels))
        labels = labels[order]
        (out / 'videos' / split).mkdir(parents=True, exist_ok=True)
        lines = []
        for i, label in enumerate(labels):
            rng = clip_rng(seed, ds_index, split, i)
            prims = spec.classes[classes[label]]
            motion = prims[int(rng.integers(len(prims)))]
            amp = rng.uniform(*spec.amp)
            phase = rng.uniform(0, 2 * math.pi)
            segment = None
            if spec.action_span != (1.0, 1.0):
                length = max(3, int(round(rng.uniform(*spec.action_span) * n_frames)))
                start = int(rng.integers(0, n_frames - length + 1))
                segment = (start, start + length)
            poses = trajectory(motion, n_frames, amp, phase, segment=segment, jitter=0.01, rng=rng)
            frames = render_clip(rng, spec.domain, poses)
            rel = f'videos/{split}/{split}_{i:05d}.mp4'
            write_video(str(out / rel), frames)
            lines.append(f'{rel} {int(label)}')
        (out / f'{split}.txt').write_text('\n'.join(lines) + '\n')
        splits[split] = dict(list=f'{split}.txt', n=len(lines))
        if split == 'train':
            mask = labeled_subset(labels, spec.labeled_fraction,
                                  np.random.default_rng([seed, ds_index, 99]))
            (out / 'train_labeled.txt').write_text(
                '\n'.join(line for line, m in zip(lines, mask) if m) + '\n')
    return dict(name=spec.name, role=spec.role, classes=classes, metric=spec.metric, multilabel=False,
                labeled_fraction=spec.labeled_fraction, labeled_list='train_labeled.txt', splits=splits,
                video_prefix='.', frames=n_frames, size=list(spec.domain.size),
                class_primitives={c: list(p) for c, p in spec.classes.items()})


def generate(out: str | os.PathLike, preset: str = 'demo', seed: int = 0, overwrite: bool = False,
             datasets: tuple[DatasetSpec, ...] = DATASETS, log=print) -> Path:
    """Render the synthetic benchmark.

    Args:
        out: output directory (must not exist unless ``overwrite``).
        preset: 'quick' or 'demo' (``datasets.PRESETS``).
        seed: the benchmark is a deterministic function of (preset, seed).
        overwrite: replace an existing ``out``.
        datasets: which dataset specs to render (default: all four).
        log: progress printer (``None`` for silence).

    Returns:
        The benchmark root.

    Raises:
        JediError: unknown preset, or ``out`` exists without ``overwrite``.
    """
    if preset not in PRESETS:
        raise JediError(f'unknown synth preset {preset!r}; choose one of {sorted(PRESETS)}')
    out = Path(out).expanduser().resolve()
    if out.exists() and not overwrite:
        raise JediError(f'{out} already exists; pass --overwrite to replace it')
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out.name}.', dir=out.parent))
    t0 = time.time()
    try:
        for spec in datasets:
            ds_index = [d.name for d in DATASETS].index(spec.name)
            meta = render_dataset(spec, ds_index, PRESETS[preset][spec.name], seed, tmp / spec.name)
            (tmp / spec.name / 'dataset.json').write_text(json.dumps(meta, indent=1) + '\n')
            if log:
                log(f'synth: {spec.name}: ' + ', '.join(f'{s} {v["n"]}' for s, v in meta['splits'].items()))
        bench = dict(format=FORMAT, version=VERSION, preset=preset, seed=seed,
                     datasets=[d.name for d in datasets], generator='jedi_repro.data.synth',
                     fingerprint=fingerprint(preset, datasets))
        (tmp / 'benchmark.json').write_text(json.dumps(bench, indent=1) + '\n')
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if log:
        log(f'synth: wrote {out} in {time.time() - t0:.1f} s')
    return out
