"""Multi-dataset batches for mmengine: labelled blocks per dataset + an unlabelled pool, gathered whole.

Batch composition (deterministic for a given seed and epoch):

* Labelled set of dataset i: the train samples in the store's ``labeled_mask`` intersected with a seeded,
  stratified ``labeled_fraction`` (per class: ``max(1, round(f * n_c))`` of the class's masked samples,
  chosen with ``numpy.random.default_rng([seed, i])``; multi-label datasets stratify by the first positive
  class).
* Pool: every train sample (labels unused) of the datasets in ``unlabeled_datasets`` (default: all).
* One iteration = one batch = for every dataset i, ``labeled_batch_size`` labelled samples of D_i, then
  ``unlabeled_batch_size`` pool samples, concatenated in that order (``sup_sizes``, ``pool_size`` and
  ``pool_sizes`` say where the blocks are). Each stream walks through back-to-back permutations drawn
  with ``default_rng([seed, 1000 + epoch, stream])`` so every batch is full; within a block, rows are
  sorted by (dataset, index) for memory-map locality and so that the pool block is grouped by dataset
  (``pool_sizes[j]`` rows of D_j, in dataset order: what ``model.kd_reduction='dataset_sum'`` needs).
* ``pool_mix``: ``proportional`` draws the pool block from all pooled samples alike (each dataset in
  proportion to its size); ``balanced`` draws an equal share of it from every pooled dataset (each from
  its own stream), so a small dataset gets as much distillation as a large one.
* An epoch has ``max(ceil(N_pool / B_u), max_i ceil(N_lab_i / B_l))`` iterations: with the proportional
  mix every pool sample and every labelled sample is seen at least once per epoch (with the balanced
  mix, small datasets' pool samples more often, a large one's less often).

Distributed (``launcher='pytorch'``): every rank draws the same plan and keeps its share of every
stream block (rows ``rank::world_size`` of each dataset's labelled block and of each pool stream; with
the balanced mix, of each dataset's share), so the ranks' batches together are the one-process batch of
the same seed and every rank runs the same number of iterations. Evaluation batches are split across
ranks by ``JEDISequentialSampler`` and gathered again by mmengine's ``Evaluator``.

The sampler yields ``(epoch, iteration)`` keys and the DataLoader runs with ``batch_size=1`` and the
``jedi_unwrap_collate`` collate function, so one ``__getitem__`` gathers a whole batch with one fancy
index per (expert, dataset) memory map: no per-sample Python work, and features stay in their on-disk
dtype (float16 -> float32 happens per batch in the model). Nothing copies the whole store, and the
pages read through the maps are dropped from the process (``MADV_DONTNEED``, :class:`PageBudget`) every
64 MB mapped (and after each evaluation pass), so resident memory stays flat in the store's size (the
data stays in the page cache).
``iters_per_epoch`` (``data.iters_per_epoch``) caps an epoch's iterations: on a store of hundreds of
thousands of videos an "epoch" of a few hundred batches gives validation, checkpoints and plateau checks
at a useful rhythm (each epoch draws a fresh plan, so successive epochs see different samples).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from mmengine.registry import FUNCTIONS
from torch.utils.data import Dataset, Sampler

from jedi_repro.data.feature_store import FeatureStore
from jedi_repro.data.npy_stream import FAULT_AROUND, PageBudget, mapped_bytes
from jedi_repro.errors import JediError
from jedi_repro.registry import DATASETS

POOL_MIXES = ('proportional', 'balanced')

try:
    from mmaction.registry import DATA_SAMPLERS
except ImportError:  # pragma: no cover
    from mmengine.registry import DATA_SAMPLERS


def _open(store) -> FeatureStore:
    return store if isinstance(store, FeatureStore) else FeatureStore.open(store, check_values=False)


def resolve_fractions(labeled_fraction, names: Sequence[str]) -> list[float]:
    """``labeled_fraction`` (a float or ``{dataset: float}``) -> one fraction in (0, 1] per dataset."""
    if isinstance(labeled_fraction, dict):
        unknown = set(labeled_fraction) - set(names)
        if unknown:
            raise JediError(f'data.labeled_fraction names unknown dataset(s) {sorted(unknown)} '
                            f'(the store has {list(names)})')
        fr = [labeled_fraction.get(n, 1.0) for n in names]
    else:
        fr = [labeled_fraction] * len(names)
    for n, f in zip(names, fr):
        if not isinstance(f, (int, float)) or not 0 < f <= 1:
            raise JediError(f'data.labeled_fraction for {n!r} is {f!r}; it must be in (0, 1]')
    return [float(f) for f in fr]


def stratified_subset(candidates: np.ndarray, strata: np.ndarray, fraction: float,
                      rng: np.random.Generator) -> np.ndarray:
    """Sorted subset of ``candidates``: per stratum ``max(1, round(fraction * n))`` drawn by ``rng``."""
    if fraction >= 1.0:
        return np.sort(candidates)
    keep = []
    for c in np.unique(strata):
        members = candidates[strata == c]
        k = max(1, int(round(fraction * len(members))))
        keep.append(rng.permutation(members)[:k])
    return np.sort(np.concatenate(keep)) if keep else candidates[:0]


def labeled_indices(store: FeatureStore, labeled_fraction=1.0, seed: int = 0) -> list[np.ndarray]:
    """The labelled train indices of every dataset (store mask x stratified fraction)."""
    out = []
    fr = resolve_fractions(labeled_fraction, store.dataset_names)
    for i, name in enumerate(store.dataset_names):
        cand = np.flatnonzero(np.asarray(store.labeled_mask(name)))
        y = np.asarray(store.labels(name, 'train'))
        strata = (y.argmax(1) if y.ndim == 2 else y)[cand]
        idx = stratified_subset(cand, strata, fr[i], np.random.default_rng([seed, i]))
        if len(idx) == 0:
            raise JediError(f'dataset {name!r} has no labelled train samples (labeled_mask of the store '
                            f'and data.labeled_fraction={fr[i]})')
        out.append(idx)
    return out


def _stream(pop: int, batch: int, iters: int, rng: np.random.Generator) -> np.ndarray:
    """``[iters, batch]`` positions in ``range(pop)`` from back-to-back permutations."""
    need = iters * batch
    reps = math.ceil(need / pop)
    return np.concatenate([rng.permutation(pop) for _ in range(reps)])[:need].reshape(iters, batch)


@DATASETS.register_module()
class JEDITrainBatches(Dataset):
    """Training batches over a feature store (see the module docstring for the composition).

    Args:
        store: feature store directory or ``FeatureStore``.
        labeled_fraction: float, or ``{dataset: float}`` (others 1.0).
        unlabeled_datasets: datasets whose train samples form the pool (``None``: all; ``[]``: none).
        labeled_batch_size: labelled samples per dataset per batch.
        unlabeled_batch_size: pool samples per batch.
        pool_mix: ``proportional`` or ``balanced`` (see the module docstring).
        seed: seeds the labelled subset and the per-epoch order.
        iters_per_epoch: at most this many iterations per epoch (``None``: the full epoch).
        rank, world_size: this process's share of every stream (default: mmengine's ``get_dist_info``).
    """

    def __init__(self, store, labeled_fraction=1.0, unlabeled_datasets=None, labeled_batch_size: int = 32,
                 unlabeled_batch_size: int = 128, pool_mix: str = 'proportional', seed: int = 0,
                 rank: int | None = None, world_size: int | None = None,
                 iters_per_epoch: int | None = None):
        from mmengine.dist import get_dist_info
        dist_rank, dist_world = get_dist_info()
        self.rank = dist_rank if rank is None else int(rank)
        self.world_size = dist_world if world_size is None else int(world_size)
        self.store = _open(store)
        names = self.store.dataset_names
        self.seed = int(seed)
        if int(labeled_batch_size) < 1 or int(unlabeled_batch_size) < 0:
            raise JediError('data.labeled_batch_size must be >= 1 and data.unlabeled_batch_size >= 0')
        self.b_lab, self.b_pool = int(labeled_batch_size), int(unlabeled_batch_size)
        if self.world_size > 1 and (self.b_lab < self.world_size or 0 < self.b_pool < self.world_size):
            raise JediError(f'data.labeled_batch_size={self.b_lab} and data.unlabeled_batch_size='
                            f'{self.b_pool} are global batch sizes: each must be at least the number of '
                            f'processes ({self.world_size}) or 0 (pool)')
        if pool_mix not in POOL_MIXES:
            raise JediError(f'data.pool_mix={pool_mix!r}; allowed: {POOL_MIXES}')
        self.pool_mix = pool_mix
        self.labeled = labeled_indices(self.store, labeled_fraction, self.seed)
        if unlabeled_datasets is None:
            unlabeled_datasets = names
        if isinstance(unlabeled_datasets, str):
            unlabeled_datasets = [unlabeled_datasets]
        unknown = [d for d in unlabeled_datasets if d not in names]
        if unknown:
            raise JediError(f'data.unlabeled_datasets names unknown dataset(s) {unknown} '
                            f'(the store has {names})')
        pool_ds = [names.index(d) for d in names if d in unlabeled_datasets]
        n_train = [self.store.dataset(d)['splits']['train'] for d in names]
        # pool as (dataset, index) pairs, one flat array of each
        self.pool_ds = np.concatenate([np.full(n_train[j], j) for j in pool_ds] or [np.zeros(0, int)])
        self.pool_idx = np.concatenate([np.arange(n_train[j]) for j in pool_ds] or [np.zeros(0, int)])
        if len(self.pool_ds) == 0:
            self.b_pool = 0
        # pool positions of each pooled dataset (the balanced mix draws an equal share from each)
        self.pooled = {j: np.flatnonzero(self.pool_ds == j) for j in pool_ds}
        if self.pool_mix == 'balanced' and self.b_pool and self.b_pool < len(pool_ds):
            raise JediError(f'data.unlabeled_batch_size={self.b_pool} is smaller than the number of pooled '
                            f'datasets ({len(pool_ds)}): data.pool_mix=balanced needs one row of each')
        steps = [math.ceil(len(ix) / self.b_lab) for ix in self.labeled]
        if self.b_pool:
            steps.append(math.ceil(len(self.pool_ds) / self.b_pool))
        self.iters = max(steps)
        if iters_per_epoch is not None:
            cap = iters_per_epoch
            if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
                raise JediError(f'data.iters_per_epoch={cap!r} must be a positive integer or None')
            self.iters = min(self.iters, cap)
        self._pages = PageBudget()
        self._feats = [[self.store.features(e, d, 'train') for d in names] for e in self.store.expert_names]
        self._labels = [self.store.labels(d, 'train') for d in names]
        self._multilabel = [self.store.dataset(d)['multilabel'] for d in names]
        self._plan_epoch, self._plan = None, None

    def __len__(self) -> int:
        return self.iters

    def plan(self, epoch: int):
        """Index plan of an epoch: (per dataset ``[iters, B_l]`` indices, ``[iters, B_u]`` pool positions)."""
        if self._plan_epoch != epoch:
            n = len(self.labeled)
            rngs = [np.random.default_rng([self.seed, 1000 + epoch, i]) for i in range(n + 1)]
            lab = [ix[_stream(len(ix), self.b_lab, self.iters, rngs[i])] for i, ix in enumerate(self.labeled)]
            pool = None
            if self.b_pool and self.pool_mix == 'proportional':
                pool = _stream(len(self.pool_ds), self.b_pool, self.iters, rngs[n])
            elif self.b_pool:  # balanced: an equal share per pooled dataset, each from its own stream
                shares = np.full(len(self.pooled), self.b_pool // len(self.pooled))
                shares[:self.b_pool % len(self.pooled)] += 1
                blocks = []
                for (j, members), share in zip(self.pooled.items(), shares):
                    rng = np.random.default_rng([self.seed, 1000 + epoch, n + 1 + j])
                    blocks.append(members[_stream(len(members), int(share), self.iters, rng)])
                pool = np.concatenate([self._shard(b) for b in blocks], axis=1)
            if pool is not None and self.pool_mix == 'proportional':
                pool = self._shard(pool)
            lab = [self._shard(b) for b in lab]
            self._plan_epoch, self._plan = epoch, (lab, pool)
        return self._plan

    def _shard(self, block: np.ndarray) -> np.ndarray:
        """This rank's columns of an ``[iters, B]`` stream block (all of it in one process)."""
        return block[:, self.rank::self.world_size] if self.world_size > 1 else block

    def __getitem__(self, key) -> dict:
        epoch, it = key if isinstance(key, tuple) else (0, key)
        lab, pool = self.plan(epoch)
        n = len(self.labeled)
        # rows per (dataset, sorted indices): labelled blocks first, then the pool grouped by dataset
        parts = [(i, np.sort(lab[i][it])) for i in range(n)]
        pool_sizes = [0] * n
        if pool is not None:
            pos = pool[it]
            order = np.lexsort((self.pool_idx[pos], self.pool_ds[pos]))
            pos = pos[order]
            pds, pix = self.pool_ds[pos], self.pool_idx[pos]
            for j in np.unique(pds):
                parts.append((int(j), pix[pds == j]))
                pool_sizes[int(j)] = int((pds == j).sum())
        feats = [torch.from_numpy(np.concatenate([fe[j][ix] for j, ix in parts])) for fe in self._feats]
        mapped = sum(mapped_bytes(len(ix), fe[j].itemsize * fe[j].shape[1])
                     for fe in self._feats for j, ix in parts)
        self._pages.charge(mapped, (a for fe in self._feats for a in fe))
        labels = []
        for i in range(n):
            y = torch.from_numpy(np.asarray(self._labels[i][parts[i][1]]))
            labels.append(y.float() if self._multilabel[i] else y)
        return dict(feats=feats, labels=labels, sup_sizes=[len(parts[i][1]) for i in range(n)],
                    pool_size=sum(pool_sizes), pool_sizes=pool_sizes)


@DATASETS.register_module()
class JEDIEvalBatches(Dataset):
    """Evaluation batches: contiguous slices of one dataset's split, all experts' features.

    Args:
        store: feature store directory or ``FeatureStore``.
        split: ``val`` or ``test``; a dataset without the split uses ``fallback``.
        fallback: split used where ``split`` is missing (``None``: error).
        batch_size: samples per batch.
    """

    def __init__(self, store, split: str = 'val', fallback: str | None = 'val', batch_size: int = 1024):
        self.store = _open(store)
        self.splits = {}
        for d in self.store.dataset_names:
            have = self.store.splits(d)
            if split in have:
                self.splits[d] = split
            elif fallback in have:
                self.splits[d] = fallback
            else:
                raise JediError(f'dataset {d!r} has no {split!r} split (nor {fallback!r})')
        self.items = []
        for i, d in enumerate(self.store.dataset_names):
            n = self.store.dataset(d)['splits'][self.splits[d]]
            self.items += [(i, a, min(a + batch_size, n)) for a in range(0, n, batch_size)]
        self._pages = PageBudget()

    def _all_maps(self):
        return [self.store.features(e, d, self.splits[d]) for d in self.store.dataset_names
                for e in self.store.expert_names]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, j) -> dict:
        i, a, b = self.items[j]
        d = self.store.dataset_names[i]
        s = self.splits[d]
        maps = [self.store.features(e, d, s) for e in self.store.expert_names]
        feats = [torch.from_numpy(np.array(m[a:b])) for m in maps]
        y = torch.from_numpy(np.array(self.store.labels(d, s)[a:b]))
        self._pages.charge(sum(f.nbytes + FAULT_AROUND for f in feats), maps)
        if j == len(self.items) - 1:  # the pass is over: release its pages until the next one
            self._pages.charge(self._pages.budget, self._all_maps())
        return dict(feats=feats, labels=y, dataset=i)


@DATA_SAMPLERS.register_module()
class JEDIEpochSampler(Sampler):
    """Yields ``(epoch, i)`` for ``i in range(len(dataset))``; mmengine's loop calls ``set_epoch``.

    Args:
        dataset: the batches dataset.
        seed: unused (the dataset holds the seed); accepted because mmengine passes it.
    """

    def __init__(self, dataset, seed=None):
        self.dataset = dataset
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        return iter([(self.epoch, i) for i in range(len(self.dataset))])

    def __len__(self) -> int:
        return len(self.dataset)


@DATA_SAMPLERS.register_module()
class JEDISequentialSampler(Sampler):
    """``0 .. len(dataset) - 1`` in order (evaluation); split across ranks when distributed.

    Rank r takes items ``r, r + W, ...`` of the list padded to a multiple of W (mmengine's
    ``DefaultSampler(shuffle=False)`` rule), so that mmengine's ``collect_results`` (which interleaves the
    ranks' results and cuts the padding off at ``len(dataset)``) gives back the one-process order.

    Args:
        dataset: the batches dataset.
        seed: unused; accepted because mmengine passes it.
        rank, world_size: default mmengine's ``get_dist_info``.
    """

    def __init__(self, dataset, seed=None, rank: int | None = None, world_size: int | None = None):
        from mmengine.dist import get_dist_info
        dist_rank, dist_world = get_dist_info()
        self.dataset = dataset
        self.rank = dist_rank if rank is None else int(rank)
        self.world_size = dist_world if world_size is None else int(world_size)

    def _indices(self) -> list[int]:
        n = len(self.dataset)
        if self.world_size == 1:
            return list(range(n))
        total = math.ceil(n / self.world_size) * self.world_size
        padded = [i % n for i in range(total)] if n else []
        return padded[self.rank::self.world_size]

    def __iter__(self):
        return iter(self._indices())

    def __len__(self) -> int:
        return len(self._indices())


@FUNCTIONS.register_module()
def jedi_unwrap_collate(batch):
    """Collate for ``batch_size=1`` loaders whose items are already whole batches."""
    return batch[0]
