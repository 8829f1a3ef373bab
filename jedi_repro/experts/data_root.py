"""Reading a data root: the directory layout ``jedi synth`` writes and real datasets can mirror.

::

    ROOT/benchmark.json          {"format": "jedi-data-root", "datasets": ["kinetics_like", ...]}
    ROOT/<dataset>/dataset.json  {"classes": [...], "metric": "top1"|"mAP", "multilabel": false,
                                  "labeled_list": "train_labeled.txt", "video_prefix": ".",
                                  "splits": {"train": {"list": "train.txt"}, "val": ..., "test": ...}}
    ROOT/<dataset>/<split>.txt   MMAction2 VideoDataset lists: "relative/path.mp4 label"

A real dataset (e.g. UCF101 with its official split lists) becomes one with ``jedi data init ROOT``
(``jedi_repro.experts.data_init``), which validates the lists and videos and writes the JSON files.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from jedi_repro.data.files import read_annotations  # noqa: F401  (re-exported; it lives in data/)
from jedi_repro.errors import JediError


@dataclass
class DatasetInfo:
    """One dataset of a data root (paths absolute)."""
    name: str
    root: Path
    classes: list[str]
    metric: str
    multilabel: bool
    splits: dict[str, Path]          # split -> annotation list
    labeled_list: Path | None        # labelled subset of train (None: all labelled)
    video_prefix: Path               # directory the list's relative paths start from
    labeled_fraction: float | None = None


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise JediError(f'{path} does not exist: a data root holds benchmark.json and <dataset>/dataset.json '
                        '(README, "Your own videos"); write them from MMAction2 lists '
                        '<root>/<dataset>/{train,val,test}.txt with `jedi data init <root>`, or render the '
                        'synthetic benchmark with `jedi synth`')
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise JediError(f'{path} is not valid JSON: {exc}') from exc


def read_dataset(ds_dir: str | os.PathLike) -> DatasetInfo:
    """Read ``<dataset>/dataset.json``; raises JediError naming the file and field at fault."""
    ds_dir = Path(ds_dir).resolve()
    path = ds_dir / 'dataset.json'
    meta = _load_json(path)
    for key in ('classes', 'splits'):
        if key not in meta:
            raise JediError(f'{path}: missing field `{key}`')
    metric = meta.get('metric', 'top1')
    if metric not in ('top1', 'mAP'):
        raise JediError(f'{path}: field `metric` must be "top1" or "mAP", got {metric!r}')
    splits = {}
    for split, entry in meta['splits'].items():
        rel = entry['list'] if isinstance(entry, dict) else entry
        splits[split] = ds_dir / rel
    labeled = meta.get('labeled_list')
    return DatasetInfo(name=meta.get('name', ds_dir.name), root=ds_dir, classes=list(meta['classes']),
                       metric=metric, multilabel=bool(meta.get('multilabel', False)), splits=splits,
                       labeled_list=ds_dir / labeled if labeled else None,
                       video_prefix=(ds_dir / meta.get('video_prefix', '.')).resolve(),
                       labeled_fraction=meta.get('labeled_fraction'))


def read_data_root(root: str | os.PathLike) -> list[DatasetInfo]:
    """Every dataset of a data root, in ``benchmark.json`` order."""
    root = Path(root).expanduser().resolve()
    bench = _load_json(root / 'benchmark.json')
    names = bench.get('datasets')
    if not isinstance(names, list) or not names:
        raise JediError(f'{root / "benchmark.json"}: field `datasets` must be a non-empty list')
    return [read_dataset(root / name) for name in names]


def video_problem(path: str | os.PathLike) -> str | None:
    """Why a video cannot be used (missing, unreadable, no frames, an odd frame rate), or None if its first
    and last frames decode (decord; GIFs with Pillow: ``jedi_repro.data.video``)."""
    from jedi_repro.data.video import VideoError, open_video

    try:
        video = open_video(path)
        video.get([0, video.num_frames - 1])  # decode first and last frame: truncated files fail here
    except VideoError as exc:
        return str(exc).split(': ', 1)[1] if str(exc).startswith('video ') else str(exc)
    return None
