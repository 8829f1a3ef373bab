"""YouTube-8M video-level features: load them and cut disjoint single-label datasets from verticals.

The data (``../shared/data/yt8m/``, see its README) is 28,792 real videos of the YouTube-8M (2018)
validation partition: ``rgb`` [N, 1024] and ``audio`` [N, 128] float16 video-level features and
multi-label topic labels (CSR ``label_offsets`` / ``label_values``), plus ``vocabulary.csv`` that names
1,000 labels and gives each a primary vertical (``Vertical1``).

The recipe (:func:`cut_datasets`), deterministic for a fixed ``seed``:

1. For each chosen vertical, take its ``k`` most frequent named labels (frequency counted in this file;
   ties broken by label index). A label belongs to the vertical of its ``Vertical1`` column only, so the
   label spaces of two verticals never overlap.
2. A video is a candidate of a vertical when it carries exactly one of that vertical's ``k`` labels
   (other labels, outside the top ``k``, are allowed: YouTube-8M videos carry about 3 labels).
3. Verticals are made disjoint: a video that is a candidate of two or more verticals is dropped from all.
4. Classes left with fewer than ``min_per_class`` videos are dropped (with their videos).
5. Each dataset is split train/val/test by a per-class (stratified) permutation with ``seed``.

With the defaults (Sports, Autos & Vehicles, Arts & Entertainment, Beauty & Fitness; ``k=10``,
``min_per_class=40``, 60/20/20, seed 0) the cut on the 28,792-video file is:

| dataset | classes | train | val | test |
|---|---:|---:|---:|---:|
| sports | 7 | 1089 | 363 | 363 |
| autos_vehicles | 7 | 1120 | 371 | 375 |
| arts_entertainment | 8 | 2845 | 947 | 948 |
| beauty_fitness | 3 | 170 | 56 | 56 |

Classes are imbalanced (Concert 2230 vs Orchestra 46 videos; Car 1063 vs Motorcycling 50), so reports
show mean class accuracy beside top-1.

(``jedi bench yt8m`` prints and reports it; ``tests/test_yt8m`` checks it on the real file.)

A second recipe, :func:`cut_overlapping` (the regime map ``mm_configs/yt8m/regimes_overlap.py``), cuts n
datasets whose class sets overlap by a chosen share, with equal classes (3) and videos per class (80) at
every n and overlap and no video in two datasets; :func:`overlap_share` measures the overlap on class
names (of a cut or of a written store) and :func:`max_overlap_datasets` says how many datasets the data
allows (8 without overlap at these sizes, 10 at 33 %, 12 at 67 %).
"""
from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jedi_repro.errors import JediError

NPZ_NAME = 'yt8m_validate_0000-0099.npz'
VOCAB_NAME = 'vocabulary.csv'
ENV_VAR = 'JEDI_YT8M'
# Food & Drink and Pets & Animals are not used: their top labels co-occur (Food + Cooking + Dish) or one
# label dominates (Pet), leaving a single class with >= 40 single-label videos.
DEFAULT_VERTICALS = ('Sports', 'Autos & Vehicles', 'Arts & Entertainment', 'Beauty & Fitness')
DEFAULT_K = 10
DEFAULT_MIN_PER_CLASS = 40
DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)
SPLITS = ('train', 'val', 'test')
RGB_DIM, AUDIO_DIM = 1024, 128


class YT8MDataError(JediError):
    """The YouTube-8M files are missing or malformed; the message names the file/field."""


def default_data_dir() -> Path:
    """In a checkout, ``../shared/data/yt8m`` beside it; from an installed package (no checkout to be
    beside), ``$JEDI_HOME/data/yt8m``."""
    from jedi_repro import workspace
    from jedi_repro.resources import shipped_root

    root = shipped_root()
    if root.name == '.mim':
        return workspace.root() / 'data' / 'yt8m'
    return root.parent / 'shared' / 'data' / 'yt8m'


def resolve_data_dir(path: str | os.PathLike | None = None) -> Path:
    """The data directory: ``path`` if given, else ``$JEDI_YT8M``, else :func:`default_data_dir`.

    Args:
        path: An explicit directory (``--data``).

    Raises:
        YT8MDataError: if the directory or one of its two files is absent.
    """
    if path is None:
        path = os.environ.get(ENV_VAR) or default_data_dir()
    d = Path(path).expanduser().resolve()
    for f in (d / NPZ_NAME, d / VOCAB_NAME):
        if not f.is_file():
            raise YT8MDataError(
                f'YouTube-8M data not found: {f} does not exist. Put the YouTube-8M video-level features '
                f'({NPZ_NAME} and {VOCAB_NAME}) there, or pass --data DIR / set ${ENV_VAR}.')
    return d


@dataclass
class Vocabulary:
    """Named labels: YouTube-8M label index -> name and primary vertical."""

    name: dict[int, str]
    vertical: dict[int, str]


def load_vocabulary(path: str | os.PathLike) -> Vocabulary:
    """Read ``vocabulary.csv`` (columns ``Index``, ``Name``, ``Vertical1``); rows without a name are skipped.

    Args:
        path: The CSV file.

    Raises:
        YT8MDataError: if the file lacks a required column or an ``Index`` is not an integer.
    """
    path = Path(path)
    names, verticals = {}, {}
    with open(path, newline='', encoding='utf-8') as fh:
        reader = csv.DictReader(fh)
        missing = {'Index', 'Name', 'Vertical1'} - set(reader.fieldnames or ())
        if missing:
            raise YT8MDataError(f'{path}: missing column(s) {sorted(missing)}')
        for row_no, row in enumerate(reader, start=2):
            try:
                idx = int(row['Index'])
            except (TypeError, ValueError):
                raise YT8MDataError(
                    f'{path}, line {row_no}: Index {row["Index"]!r} is not an integer') from None
            name = (row['Name'] or '').strip()
            if not name:
                continue  # unnamed labels cannot be reported; they are treated as absent
            names[idx] = name
            verticals[idx] = (row['Vertical1'] or '').strip()
    return Vocabulary(name=names, vertical=verticals)


@dataclass
class YT8MData:
    """The video-level arrays of one ``.npz`` file (float16 features kept as stored)."""

    ids: np.ndarray
    rgb: np.ndarray
    audio: np.ndarray
    label_offsets: np.ndarray
    label_values: np.ndarray
    vocab: Vocabulary
    source: Path = field(default=Path('.'))

    def __len__(self) -> int:
        return len(self.ids)

    def video_features(self, index: np.ndarray) -> np.ndarray:
        """The ``[len(index), 1152]`` float32 input of every expert: ``[rgb | audio]``."""
        return np.concatenate([self.rgb[index], self.audio[index]], axis=1).astype(np.float32)


def validate_arrays(arrays: dict, source: str) -> None:
    """Check the keys, shapes and values of the YouTube-8M arrays.

    Args:
        arrays: name -> array, as loaded from the ``.npz``.
        source: The file name used in error messages.

    Raises:
        YT8MDataError: naming the file and the array at fault.
    """
    need = ('ids', 'rgb', 'audio', 'label_offsets', 'label_values')
    missing = [k for k in need if k not in arrays]
    if missing:
        raise YT8MDataError(f'{source}: missing array(s) {missing}')
    n = len(arrays['ids'])
    for key, dim in (('rgb', RGB_DIM), ('audio', AUDIO_DIM)):
        a = arrays[key]
        if a.ndim != 2 or a.shape != (n, dim):
            raise YT8MDataError(f'{source}: {key} has shape {a.shape}, expected ({n}, {dim})')
        if not np.isfinite(a).all():
            raise YT8MDataError(f'{source}: {key} contains NaN or infinite values')
    off, val = arrays['label_offsets'], arrays['label_values']
    if off.shape != (n + 1,) or off[0] != 0 or off[-1] != len(val) or np.any(np.diff(off) < 0):
        raise YT8MDataError(f'{source}: label_offsets must be non-decreasing, shape ({n + 1},), '
                            f'from 0 to len(label_values)={len(val)}')
    if len(val) and val.min() < 0:
        raise YT8MDataError(f'{source}: label_values contains negative label indices')


def load_yt8m(data_dir: str | os.PathLike | None = None) -> YT8MData:
    """Load and validate the YouTube-8M video-level features and vocabulary.

    Args:
        data_dir: See :func:`resolve_data_dir`.
    """
    d = resolve_data_dir(data_dir)
    npz = d / NPZ_NAME
    try:
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise YT8MDataError(f'{npz}: cannot read ({exc})') from None
    validate_arrays(arrays, str(npz))
    return YT8MData(ids=arrays['ids'], rgb=arrays['rgb'], audio=arrays['audio'],
                    label_offsets=arrays['label_offsets'].astype(np.int64),
                    label_values=arrays['label_values'].astype(np.int64),
                    vocab=load_vocabulary(d / VOCAB_NAME), source=d)


# ----------------------------------------------------------------------------------------- pure cutting
def slugify(vertical: str) -> str:
    """Dataset name of a vertical: ``'Autos & Vehicles'`` -> ``'autos_vehicles'``."""
    return re.sub(r'[^a-z0-9]+', '_', vertical.lower()).strip('_')


def label_counts(label_values: np.ndarray) -> dict[int, int]:
    """Number of videos that carry each label (labels are unique per video in YouTube-8M)."""
    ids, counts = np.unique(label_values, return_counts=True)
    return dict(zip(ids.tolist(), counts.tolist()))


def top_labels(vocab: Vocabulary, counts: dict[int, int], vertical: str, k: int) -> list[int]:
    """The ``k`` most frequent named labels whose primary vertical is ``vertical``.

    Args:
        vocab: The vocabulary.
        counts: label -> number of videos (:func:`label_counts`).
        vertical: A ``Vertical1`` value.
        k: How many labels to keep.

    Raises:
        YT8MDataError: if the vertical has no label that occurs in the data.
    """
    labels = [i for i, v in vocab.vertical.items() if v == vertical and counts.get(i, 0) > 0]
    if not labels:
        known = sorted({v for v in vocab.vertical.values() if v})
        raise YT8MDataError(f'vertical {vertical!r}: no named label of it occurs in the data '
                            f'(known verticals: {", ".join(known)})')
    return sorted(labels, key=lambda i: (-counts[i], i))[:k]


def single_label_candidates(label_offsets: np.ndarray, label_values: np.ndarray,
                            keep: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Videos carrying exactly one label of ``keep``, and that label.

    Args:
        label_offsets: CSR offsets ``[N + 1]``.
        label_values: CSR label indices.
        keep: The label indices of one vertical.

    Returns:
        (video indices, their YouTube-8M label), both int64 and sorted by video.
    """
    n = len(label_offsets) - 1
    hit = np.isin(label_values, np.asarray(keep, dtype=np.int64))
    video_of_value = np.repeat(np.arange(n), np.diff(label_offsets))
    hits_per_video = np.bincount(video_of_value[hit], minlength=n)
    videos = np.flatnonzero(hits_per_video == 1)
    # the one hit of each selected video
    sel = hit & (hits_per_video[video_of_value] == 1)
    return videos.astype(np.int64), label_values[sel].astype(np.int64)


def stratified_split(labels: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Split positions ``0..len(labels)-1`` per class into parts of the given fractions.

    Each class is permuted with ``seed`` and cut at rounded cumulative fractions, so every part gets
    its share of every class (a class of n >= len(fractions) samples puts at least one in each part when
    the fractions allow). Deterministic.

    Args:
        labels: int class per sample.
        fractions: Positive fractions summing to 1 (e.g. train/val/test).
        seed: Permutation seed.

    Returns:
        One sorted int64 index array per fraction.
    """
    fr = np.asarray(fractions, dtype=float)
    if fr.ndim != 1 or np.any(fr <= 0) or not np.isclose(fr.sum(), 1.0):
        raise YT8MDataError(f'split fractions {tuple(fractions)} must be positive and sum to 1')
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fr]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        cuts = np.round(np.cumsum(fr)[:-1] * len(idx)).astype(int)
        for p, chunk in enumerate(np.split(idx, cuts)):
            parts[p].append(chunk)
    return [np.sort(np.concatenate(p)).astype(np.int64) for p in parts]


def labeled_mask(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A per-class labelled subset of a train split: ``round(fraction * n_c)`` per class, at least one.

    Args:
        labels: int class per train sample.
        fraction: Labelled fraction in (0, 1].
        seed: Selection seed.
    """
    if not 0 < fraction <= 1:
        raise YT8MDataError(f'labeled fraction {fraction} must be in (0, 1]')
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        m = max(1, int(round(fraction * len(idx))))
        mask[rng.choice(idx, size=m, replace=False)] = True
    return mask


@dataclass
class CutDataset:
    """One single-label dataset cut from a vertical.

    Attributes:
        name: Dataset name (slug of the vertical).
        vertical: The vertical.
        classes: Class names, in class-index order (by frequency).
        label_ids: The YouTube-8M label index of each class.
        videos: split -> row indices into the ``.npz`` arrays.
        labels: split -> class index (int64) per video.
    """

    name: str
    vertical: str
    classes: list[str]
    label_ids: list[int]
    videos: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]

    def sizes(self) -> dict[str, int]:
        return {s: int(len(v)) for s, v in self.videos.items()}


def cut_datasets(label_offsets: np.ndarray, label_values: np.ndarray, vocab: Vocabulary,
                 verticals: tuple[str, ...] = DEFAULT_VERTICALS, k: int = DEFAULT_K,
                 min_per_class: int = DEFAULT_MIN_PER_CLASS,
                 fractions: tuple[float, ...] = DEFAULT_FRACTIONS, seed: int = 0) -> list[CutDataset]:
    """Cut disjoint single-label datasets, one per vertical (recipe in the module docstring).

    Args:
        label_offsets: CSR offsets ``[N + 1]``.
        label_values: CSR label indices.
        vocab: The vocabulary (names and primary verticals).
        verticals: ``Vertical1`` values, one dataset each.
        k: Labels kept per vertical (its most frequent).
        min_per_class: Classes with fewer videos after the cut are dropped.
        fractions: train/val/test fractions.
        seed: Split seed.

    Raises:
        YT8MDataError: on duplicate verticals or a dataset left with fewer than two classes.
    """
    if len(set(verticals)) != len(verticals):
        raise YT8MDataError(f'verticals {list(verticals)} contain duplicates')
    if k < 2:
        raise YT8MDataError(f'k={k}: need at least 2 labels per vertical')
    counts = label_counts(label_values)
    cands = {}
    for v in verticals:
        keep = top_labels(vocab, counts, v, k)
        cands[v] = single_label_candidates(label_offsets, label_values, keep) + (keep,)
    # disjoint: drop videos that are candidates of more than one vertical
    all_videos = np.concatenate([c[0] for c in cands.values()])
    uniq, n_verticals = np.unique(all_videos, return_counts=True)
    shared = uniq[n_verticals > 1]

    out = []
    for v in verticals:
        videos, ylab, keep = cands[v]
        own = ~np.isin(videos, shared)
        videos, ylab = videos[own], ylab[own]
        per_label = {lab: int((ylab == lab).sum()) for lab in keep}
        kept = sorted((lab for lab in keep if per_label[lab] >= min_per_class),
                      key=lambda lab: (-per_label[lab], lab))
        if len(kept) < 2:
            raise YT8MDataError(f'vertical {v!r}: only {len(kept)} class(es) keep >= {min_per_class} '
                                f'videos after the cut (k={k}); lower min_per_class or raise k')
        sel = np.isin(ylab, kept)
        videos, ylab = videos[sel], ylab[sel]
        cls_of = {lab: c for c, lab in enumerate(kept)}
        y = np.array([cls_of[lab] for lab in ylab.tolist()], dtype=np.int64)
        parts = stratified_split(y, fractions, seed)
        names = SPLITS if len(fractions) == 3 else tuple(f'part{i}' for i in range(len(fractions)))
        out.append(CutDataset(
            name=slugify(v), vertical=v, classes=[vocab.name[lab] for lab in kept], label_ids=kept,
            videos={s: videos[p] for s, p in zip(names, parts)},
            labels={s: y[p] for s, p in zip(names, parts)}))
    return out


def describe_cut(datasets: list[CutDataset]) -> str:
    """A Markdown table of the cut: classes and split sizes per dataset."""
    lines = ['| dataset | vertical | classes | train | val | test |', '|---|---|---:|---:|---:|---:|']
    for d in datasets:
        s = d.sizes()
        lines.append(f'| {d.name} | {d.vertical} | {len(d.classes)} | {s.get("train", 0)} | '
                     f'{s.get("val", 0)} | {s.get("test", 0)} |')
    return '\n'.join(lines)


# ----------------------------------------------------------------------------------- overlapping classes
#: the overlap cut's defaults: 3 classes per dataset (so 0 / 1 / 2 shared classes = 0 / 33 / 67 % overlap),
#: 80 videos per dataset and class (48 / 16 / 16 train / val / test), labels from the 48 most frequent
DEFAULT_OVERLAP_CUT = dict(classes_per_dataset=3, videos_per_class=80, universe=48,
                           fractions=DEFAULT_FRACTIONS, seed=0)


def shared_pairs(n: int, shared_per_dataset: int) -> list[tuple[int, int]]:
    """Which datasets share each shared class: ``shared_per_dataset`` rounds of disjoint pairs.

    Round 0 pairs (0, 1), (2, 3), ...; round 1 pairs (1, 2), (3, 4), ..., (n-1, 0): neighbours on a ring,
    so every dataset holds exactly ``shared_per_dataset`` shared classes, each shared with one other
    dataset (with n = 2 both rounds pair the same two datasets).

    Raises:
        YT8MDataError: for an odd ``n`` with shared classes (a dataset would be left without a partner).
    """
    if shared_per_dataset and n % 2:
        raise YT8MDataError(f'n={n} datasets: shared classes need an even number of datasets')
    if shared_per_dataset and n < 2:
        raise YT8MDataError('shared classes need at least 2 datasets')
    pairs = []
    for r in range(shared_per_dataset):
        pairs += [(i, (i + 1) % n) for i in range(r % 2, n, 2)]
    return pairs


def overlap_share(class_sets: dict[str, list[str]]) -> dict[str, float]:
    """Per dataset, the share of its classes that are also classes of another dataset (by class name).

    What ``cut_overlapping`` asks for, measured on what was written (a store's class names).
    """
    out = {}
    for name, classes in class_sets.items():
        others = set().union(*(set(c) for o, c in class_sets.items() if o != name))
        out[name] = sum(c in others for c in classes) / len(classes) if classes else float('nan')
    return out


def cut_overlapping(label_offsets: np.ndarray, label_values: np.ndarray, vocab: Vocabulary, n: int,
                    overlap: float, classes_per_dataset: int = 3, videos_per_class: int = 80,
                    universe: int = 48, fractions: tuple[float, ...] = DEFAULT_FRACTIONS,
                    seed: int = 0) -> list[CutDataset]:
    """Cut ``n`` single-label datasets whose class sets overlap by ``overlap``, with disjoint videos.

    Recipe (deterministic for a fixed ``seed``):

    1. The universe is the ``universe`` most frequent named labels (any vertical); a video is a candidate
       of label L when L is its only universe label.
    2. Each dataset has ``classes_per_dataset`` classes, ``round(overlap * classes_per_dataset)`` of them
       shared with one other dataset (:func:`shared_pairs`), the rest its own.
    3. Shared classes take the most frequent labels with at least ``2 * videos_per_class`` candidates, own
       classes the next labels with at least ``videos_per_class``; classes are dealt to datasets in turn.
    4. Each (dataset, class) gets ``videos_per_class`` videos of a seeded permutation of the label's
       candidates, the two holders of a shared class different ones: no video is in two datasets, every
       class of every dataset is the same size whatever the overlap or n.
    5. Each dataset is split train/val/test per class (:func:`stratified_split`).

    Args:
        label_offsets: CSR offsets ``[N + 1]``.
        label_values: CSR label indices.
        vocab: The vocabulary.
        n: Number of datasets (named ``d0``, ``d1``, ...).
        overlap: Requested share of each dataset's classes that another dataset also has, in [0, 1].
        classes_per_dataset: Classes per dataset.
        videos_per_class: Videos per dataset and class (all splits).
        universe: How many of the most frequent named labels the classes are drawn from.
        fractions: train/val/test fractions.
        seed: Video and split seed.

    Raises:
        YT8MDataError: a bad argument, or not enough labels with enough videos (the message says how many
            there are: :func:`max_overlap_datasets` gives the largest n the data allows).
    """
    if n < 1 or classes_per_dataset < 2 or videos_per_class < len(fractions) or not 0 <= overlap <= 1:
        raise YT8MDataError(f'overlap cut: need n >= 1, classes_per_dataset >= 2, videos_per_class >= '
                            f'{len(fractions)} and overlap in [0, 1]; got n={n}, classes_per_dataset='
                            f'{classes_per_dataset}, videos_per_class={videos_per_class}, overlap={overlap}')
    k, per = int(classes_per_dataset), int(videos_per_class)
    m = int(round(overlap * k))
    pairs = shared_pairs(n, m)
    counts = label_counts(label_values)
    named = sorted((i for i in vocab.name if counts.get(i, 0) > 0), key=lambda i: (-counts[i], i))[:universe]
    videos, ylab = single_label_candidates(label_offsets, label_values, named)
    cand = {lab: videos[ylab == lab] for lab in named}
    by_size = sorted(named, key=lambda lab: (-len(cand[lab]), lab))
    shared_labels = [lab for lab in by_size if len(cand[lab]) >= 2 * per][:len(pairs)]
    own_needed = n * (k - m)
    own_labels = [lab for lab in by_size if len(cand[lab]) >= per and lab not in shared_labels][:own_needed]
    if len(shared_labels) < len(pairs) or len(own_labels) < own_needed:
        raise YT8MDataError(
            f'overlap cut: n={n}, {k} classes per dataset, {m} shared: needs {len(pairs)} labels with >= '
            f'{2 * per} single-label videos and {own_needed} more with >= {per} among the {universe} most '
            f'frequent; the data has {sum(len(cand[x]) >= 2 * per for x in named)} and '
            f'{sum(len(cand[x]) >= per for x in named)}. Lower n, videos_per_class or the overlap.')
    rng = np.random.default_rng(seed)
    holders: dict[int, list[tuple[int, int]]] = {}  # dataset -> [(label, offset into its permutation)]
    perm = {lab: rng.permutation(cand[lab]) for lab in shared_labels + own_labels}
    for lab, (a, b) in zip(shared_labels, pairs):
        holders.setdefault(a, []).append((lab, 0))
        holders.setdefault(b, []).append((lab, per))
    for j, lab in enumerate(own_labels):
        holders.setdefault(j % n, []).append((lab, 0))
    out = []
    for i in range(n):
        held = sorted(holders[i], key=lambda t: (-len(cand[t[0]]), t[0]))
        vids = np.concatenate([perm[lab][off:off + per] for lab, off in held]).astype(np.int64)
        y = np.repeat(np.arange(len(held)), per).astype(np.int64)
        parts = stratified_split(y, fractions, seed)
        out.append(CutDataset(name=f'd{i}', vertical='mixed', classes=[vocab.name[lab] for lab, _ in held],
                              label_ids=[lab for lab, _ in held],
                              videos={s: vids[p] for s, p in zip(SPLITS, parts)},
                              labels={s: y[p] for s, p in zip(SPLITS, parts)}))
    return out


def max_overlap_datasets(label_offsets: np.ndarray, label_values: np.ndarray, vocab: Vocabulary,
                         overlap: float, limit: int = 64, **cut) -> int:
    """The largest even n (up to ``limit``) for which :func:`cut_overlapping` succeeds at ``overlap``."""
    best = 0
    for n in range(2, limit + 1, 2):
        try:
            cut_overlapping(label_offsets, label_values, vocab, n, overlap, **cut)
        except YT8MDataError:
            break
        best = n
    return best
