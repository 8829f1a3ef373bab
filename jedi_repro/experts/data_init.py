"""``jedi data init``: MMAction2 annotation lists -> a data root (``benchmark.json`` + ``dataset.json``).

Input, per dataset (every subdirectory of ROOT holding a ``train.txt``)::

    ROOT/<dataset>/train.txt, val.txt[, test.txt]   MMAction2 VideoDataset lists: "videos/x.mp4 LABEL"
    ROOT/<dataset>/classes.txt                       optional: class name of label i on line i+1
    ROOT/<dataset>/train_labeled.txt                 optional: the labelled subset of train.txt (lines of
                                                     train.txt); without it every train clip is labelled
    ROOT/<dataset>/<video paths of the lists>        relative to ROOT/<dataset>/

Output: the data root ``jedi_repro.experts.data_root`` reads (``ROOT/benchmark.json``,
``ROOT/<dataset>/dataset.json``). Everything is checked before anything is written: the line format, labels
in range, no video twice in a list or in two splits, the labelled list a subset of train, and every video
opens and decodes. A problem stops the command with one paragraph naming file and line; nothing is written.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from jedi_repro.errors import JediError
from jedi_repro.experts.data_root import video_problem

FORMAT = 'jedi-data-root'
GENERATOR = 'jedi data init'
SPLITS = ('train', 'val', 'test')
REQUIRED_SPLITS = ('train', 'val')
CLASSES_FILE = 'classes.txt'
LABELED_FILE = 'train_labeled.txt'
#: how many problems one error message lists before "and N more"
MAX_LISTED = 5


class DataInitError(JediError):
    """A list, a class file or a video that ``jedi data init`` cannot accept (file and line named)."""


@dataclass
class ListFile:
    """One parsed annotation list: ``entries[i] = (video, label, line number)``."""
    path: Path
    entries: list[tuple[str, int, int]] = field(default_factory=list)


def parse_list(path: Path, problems: list[str]) -> ListFile:
    """Parse ``path label`` lines; malformed lines and duplicate videos are appended to ``problems``."""
    out = ListFile(path)
    seen: dict[str, int] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            problems.append(f'{path}:{lineno}: expected "video label" (2 fields), got {line.strip()!r}')
            continue
        video, text = parts
        try:
            label = int(text)
        except ValueError:
            problems.append(f'{path}:{lineno}: label {text!r} is not an integer')
            continue
        if label < 0:
            problems.append(f'{path}:{lineno}: label {label} is negative')
            continue
        if video in seen:
            problems.append(f'{path}:{lineno}: {video} is listed twice (first on line {seen[video]})')
            continue
        seen[video] = lineno
        out.entries.append((video, label, lineno))
    if not out.entries and not any(p.startswith(f'{path}:') for p in problems):
        problems.append(f'{path} lists no video')
    return out


def read_classes(path: Path, problems: list[str]) -> list[str] | None:
    """Class names, one per line (label i = line i+1), or None without the file."""
    if not path.is_file():
        return None
    names = [line.strip() for line in path.read_text().splitlines()]
    while names and not names[-1]:
        names.pop()
    for i, name in enumerate(names, 1):
        if not name:
            problems.append(f'{path}:{i}: empty class name')
    dup = {n for n in names if n and names.count(n) > 1}
    if dup:
        problems.append(f'{path}: class names listed twice: {sorted(dup)[:5]}')
    if not names:
        problems.append(f'{path} lists no class')
    return names


def check_dataset(ds_dir: Path, check_videos: str, problems: list[str]) -> dict:
    """Validate one dataset directory; return its ``dataset.json`` content (problems appended)."""
    lists = {}
    for split in SPLITS:
        p = ds_dir / f'{split}.txt'
        if p.is_file():
            lists[split] = parse_list(p, problems)
        elif split in REQUIRED_SPLITS:
            problems.append(f'{p} does not exist (every dataset needs train.txt and val.txt; test.txt is '
                            'optional)')
    classes = read_classes(ds_dir / CLASSES_FILE, problems)
    labels = [lab for lf in lists.values() for _, lab, _ in lf.entries]
    if classes is None:
        classes = [str(i) for i in range(max(labels) + 1)] if labels else []
    else:
        for lf in lists.values():
            for _, label, lineno in lf.entries:
                if label >= len(classes):
                    problems.append(f'{lf.path}:{lineno}: label {label} is outside [0, {len(classes)}) '
                                    f'({len(classes)} classes in {ds_dir / CLASSES_FILE})')
    # a video in two splits would let test clips leak into training
    where: dict[str, tuple[Path, int]] = {}
    for lf in lists.values():
        for video, _, lineno in lf.entries:
            key = os.path.normpath(video)
            if key in where and where[key][0] != lf.path:
                problems.append(f'{lf.path}:{lineno}: {video} is also in {where[key][0]}:{where[key][1]} '
                                '(a video may be in one split only)')
            where.setdefault(key, (lf.path, lineno))
    meta = dict(name=ds_dir.name, classes=classes, metric='top1', multilabel=False, video_prefix='.',
                splits={s: dict(list=lf.path.name, n=len(lf.entries)) for s, lf in lists.items()})
    labeled = ds_dir / LABELED_FILE
    if labeled.is_file() and 'train' in lists:
        sub = parse_list(labeled, problems)
        train = {v: lab for v, lab, _ in lists['train'].entries}
        for video, label, lineno in sub.entries:
            if video not in train:
                problems.append(f'{labeled}:{lineno}: {video} is not in {lists["train"].path}')
            elif train[video] != label:
                problems.append(f'{labeled}:{lineno}: {video} has label {label} here but {train[video]} in '
                                f'{lists["train"].path}')
        meta['labeled_list'] = LABELED_FILE
        meta['labeled_fraction'] = round(len(sub.entries) / max(1, len(train)), 4)
    if check_videos != 'none':
        for lf in lists.values():
            for video, _, lineno in lf.entries:
                path = ds_dir / video
                why = ('file does not exist' if not path.is_file() else None) if check_videos == 'exists' \
                    else video_problem(path)
                if why:
                    problems.append(f'{lf.path}:{lineno}: video {path}: {why}')
    return meta


def find_datasets(root: Path) -> list[str]:
    """Every subdirectory of ``root`` with a ``train.txt``, sorted by name."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / 'train.txt').is_file())


def _write_json_atomic(path: Path, obj) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', dir=path.parent)
    with os.fdopen(fd, 'w') as f:
        f.write(json.dumps(obj, indent=1) + '\n')
    return Path(tmp)


def init_data_root(root: str | os.PathLike, datasets: list[str] | None = None,
                   metrics: dict[str, str] | None = None, check_videos: str = 'decode',
                   overwrite: bool = False) -> dict:
    """Turn ``ROOT/<dataset>/{train,val,test}.txt`` into a data root.

    Args:
        root: the directory holding one subdirectory per dataset.
        datasets: which datasets, in this order (default: every subdirectory with a ``train.txt``, sorted).
        metrics: ``{dataset: 'top1'|'mAP'}``, the metric reports show (default top1).
        check_videos: 'decode' (every video opens and its first and last frames decode), 'exists', or
            'none'.
        overwrite: replace a ``benchmark.json`` that another tool (e.g. ``jedi synth``) wrote.

    Returns:
        ``{'root', 'datasets': {name: {'classes', 'splits': {split: n}, 'labeled'}}}``.

    Raises:
        DataInitError: every problem found (up to ``MAX_LISTED`` named, with file and line); nothing is
            written then.
    """
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DataInitError(f'data root {root} is not a directory')
    if check_videos not in ('decode', 'exists', 'none'):
        raise DataInitError(f'check_videos={check_videos!r}: choose decode, exists or none')
    bench_path = root / 'benchmark.json'
    if bench_path.is_file() and not overwrite:
        try:
            gen = json.loads(bench_path.read_text()).get('generator')
        except (json.JSONDecodeError, AttributeError):
            gen = None
        if gen != GENERATOR:
            raise DataInitError(f'{bench_path} exists and was not written by `jedi data init` (generator '
                                f'{gen!r}); pass --overwrite to replace it')
    names = list(datasets) if datasets else find_datasets(root)
    if not names:
        raise DataInitError(f'{root} holds no dataset: expected ROOT/<dataset>/train.txt (and val.txt) in '
                            'MMAction2 list format, "videos/x.mp4 LABEL" per line')
    metrics = dict(metrics or {})
    problems: list[str] = []
    for name in metrics:
        if name not in names:
            problems.append(f'--metric {name}=...: no dataset {name!r} under {root} (found {names})')
    metas = {}
    for name in names:
        ds_dir = root / name
        if not ds_dir.is_dir():
            problems.append(f'{ds_dir} does not exist')
            continue
        meta = check_dataset(ds_dir, check_videos, problems)
        metric = metrics.get(name, 'top1')
        if metric not in ('top1', 'mAP'):
            problems.append(f'--metric {name}={metric}: the metric must be top1 or mAP')
        meta['metric'] = metric
        metas[name] = meta
    if problems:
        more = f' ... and {len(problems) - MAX_LISTED} more problems' if len(problems) > MAX_LISTED else ''
        raise DataInitError(f'jedi data init {root}: {len(problems)} problem(s), nothing written: '
                            + '; '.join(problems[:MAX_LISTED]) + more)
    # every file goes to a temp name first, then all are renamed (benchmark.json last)
    staged = []
    try:
        for n, m in metas.items():
            staged.append((_write_json_atomic(root / n / 'dataset.json', m), root / n / 'dataset.json'))
        staged.append((_write_json_atomic(bench_path, dict(format=FORMAT, version=1, datasets=names,
                                                           generator=GENERATOR)), bench_path))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final in staged:
        os.replace(tmp, final)
    return dict(root=str(root), datasets={
        n: dict(classes=len(m['classes']), splits={s: v['n'] for s, v in m['splits'].items()},
                labeled=m.get('labeled_list'), metric=m['metric']) for n, m in metas.items()})
