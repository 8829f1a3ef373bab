"""Frozen experts -> feature store: every expert over every dataset and split (n x n blocks).

The core is generic and public, for any MMAction2 recognizer whose ``cls_head`` ends in a Linear:

* ``penultimate_features(model, dataloader)`` -> ``(features [N, D], labels [N])``: the input of the head's
  last Linear, captured by a forward pre-hook (``cls_head.fc_cls``; ``cls_head.fc2`` for X3D), i.e. after
  the head's pooling / consensus / hidden layer and before the classifier, exactly what the classifier
  sees. ``extract_feat(stage='head')`` would give logits instead.
* ``head_params(model)`` -> ``(weight [C, D], bias [C])`` of that Linear.

``extract(...)`` drives them over a data root (``jedi_repro.experts.data_root``) and writes a
``FeatureStoreWriter`` store. Blocks are cached under ``$JEDI_HOME/cache/extract`` keyed by the expert's
model + test pipeline config, the checkpoint's sha256, the annotation list and the videos' sizes/mtimes,
so re-running after adding an expert or a dataset only computes the new blocks.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jedi_repro import workspace
from jedi_repro.errors import JediError
from jedi_repro.experts.checkpoint import check_checkpoint
from jedi_repro.experts.config import expert_name, feature_layer, load_expert_config, sha256_file
from jedi_repro.experts.data_root import DatasetInfo, read_annotations, read_data_root, video_problem

# bf16 autocast changes features by rounding; results must stay within these bounds (tested in
# tests/test_experts/test_extract.py): relative L2 error of the features and agreement of the head's top-1.
BF16_FEATURE_REL_TOL = 0.05
BF16_TOP1_AGREEMENT = 0.9
CACHE_VERSION = 1


# ------------------------------------------------------------------------------------------- generic core
def find_head_linear(model, layer: str | None = None):
    """The Linear whose input is the penultimate feature.

    Args:
        model: an MMAction2 recognizer (or any module with a ``cls_head``).
        layer: dotted module path (e.g. ``'cls_head.fc_cls'``); default: ``cls_head.fc_cls`` if present,
            else ``cls_head.fc2`` (X3D), else the last ``nn.Linear`` inside ``cls_head``.

    Raises:
        JediError: no such Linear.
    """
    import torch.nn as nn

    if layer:
        mod = model
        for part in layer.split('.'):
            mod = getattr(mod, part, None)
            if mod is None:
                raise JediError(f'model has no module {layer!r} (set jedi.feature_layer in the config)')
        if not isinstance(mod, nn.Linear):
            raise JediError(f'{layer!r} is a {type(mod).__name__}, not a Linear')
        return mod
    head = getattr(model, 'cls_head', None)
    if head is None:
        raise JediError(f'{type(model).__name__} has no cls_head')
    for name in ('fc_cls', 'fc2'):
        if isinstance(getattr(head, name, None), nn.Linear):
            return getattr(head, name)
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise JediError(f'{type(head).__name__} contains no Linear layer')
    return linears[-1]


def head_params(model, layer: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The classifier of an expert: ``(weight [C, D], bias [C])`` as float32 numpy arrays.

    Args:
        model: an MMAction2 recognizer whose ``cls_head`` ends in a Linear.
        layer: see ``find_head_linear``.
    """
    fc = find_head_linear(model, layer)
    w = fc.weight.detach().float().cpu().numpy()
    b = fc.bias.detach().float().cpu().numpy() if fc.bias is not None else np.zeros(w.shape[0], np.float32)
    return w, b


def _labels_of(data_samples) -> list[int]:
    out = []
    for ds in data_samples:
        lab = ds.gt_label
        out.append(int(lab.reshape(-1)[0]) if hasattr(lab, 'reshape') else int(lab))
    return out


def penultimate_features(model, dataloader, layer: str | None = None, bf16: bool = False,
                         progress=None, timing: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Run a recognizer over a dataloader and collect the inputs of its head's last Linear.

    Works for any MMAction2 recognizer (Recognizer2D/3D, or a custom ``BaseRecognizer`` over feature
    vectors) whose ``cls_head`` ends in a Linear: batches go through ``model.test_step`` (data
    preprocessor + predict), and a forward pre-hook on the Linear records its input. If a sample yields
    several views (``num_clips > 1``), its view features are averaged, as ``average_clips`` does for scores.

    Args:
        model: the recognizer (switched to eval mode here).
        dataloader: yields MMAction2 batches ``dict(inputs=[...], data_samples=[ActionDataSample, ...])``.
        layer: dotted path of the Linear (see ``find_head_linear``).
        bf16: run under bfloat16 autocast on the model's device (features returned as float32).
        progress: optional callable receiving the batch count after each batch (e.g. ``tqdm.update``).
        timing: optional dict; ``data_s`` (waiting for the next batch: decoding and the test pipeline, or
            what the loader's workers did not hide) and ``forward_s`` (``test_step``) are added to it.

    Returns:
        ``(features float32 [N, D], labels int64 [N])`` in dataloader order.
    """
    import torch

    fc = find_head_linear(model, layer)
    captured: list = []
    handle = fc.register_forward_pre_hook(lambda mod, args: captured.append(args[0].detach()))
    feats, labels = [], []
    model.eval()
    dev = next(model.parameters()).device.type
    autocast = torch.autocast(dev, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    timing = {} if timing is None else timing
    timing.setdefault('data_s', 0.0)
    timing.setdefault('forward_s', 0.0)
    try:
        with torch.inference_mode(), autocast:
            batches = iter(dataloader)
            while True:
                t0 = time.perf_counter()
                batch = next(batches, None)
                t1 = time.perf_counter()
                timing['data_s'] += t1 - t0
                if batch is None:
                    break
                captured.clear()
                samples = model.test_step(batch)
                if dev == 'cuda':  # kernels run asynchronously: count them in the forward time
                    torch.cuda.synchronize()
                timing['forward_s'] += time.perf_counter() - t1
                if len(captured) != 1:
                    raise JediError(f'the head Linear ran {len(captured)} times for one batch; expected once')
                f = captured[0].float().reshape(captured[0].shape[0], -1)
                b = len(samples)
                if f.shape[0] != b:
                    if f.shape[0] % b:
                        raise JediError(f'{f.shape[0]} feature rows for a batch of {b} samples')
                    f = f.reshape(b, f.shape[0] // b, -1).mean(1)
                feats.append(f.cpu().numpy())
                labels.extend(_labels_of(samples))
                if progress is not None:
                    progress(1)
    finally:
        handle.remove()
    if not feats:
        raise JediError('the dataloader yielded no batch')
    return np.concatenate(feats).astype(np.float32), np.asarray(labels, np.int64)


# ------------------------------------------------------------------------------------ model and data glue
def build_expert(cfg, checkpoint: str | os.PathLike, channels_last: bool = False, device: str | None = None):
    """Build the recognizer of an expert config and load its weights, in eval mode, on ``device``
    (default: CUDA when available, else CPU).

    Loading is weights-only and strict (``jedi_repro.experts.checkpoint.load_strict``): the model zoo's
    layout, a bare or ``module.``-prefixed state dict; any missing, unexpected or misshaped key refuses.
    """
    import torch
    from mmaction.utils import register_all_modules
    from mmengine.registry import MODELS

    from jedi_repro.experts.checkpoint import config_name, load_strict

    check_checkpoint(cfg, checkpoint)  # names and shapes first: a refusal costs no model build
    register_all_modules(init_default_scope=True)
    model = MODELS.build(cfg.model)
    load_strict(model, checkpoint, config_name(cfg))
    model.eval()
    if channels_last:
        to_channels_last(model)
    return model.to(device or ('cuda' if torch.cuda.is_available() else 'cpu'))


def to_channels_last(model):
    """Put every conv weight in channels-last layout (``channels_last_3d`` for 3D convs), in place.

    ``model.to(memory_format=...)`` would fail on the recognizer's low-rank buffers (the data
    preprocessor's mean/std), so only conv weights are converted; activations follow them.
    """
    import torch
    import torch.nn as nn

    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            m.weight.data = m.weight.data.contiguous(memory_format=torch.channels_last_3d)
        elif isinstance(m, nn.Conv2d):
            m.weight.data = m.weight.data.contiguous(memory_format=torch.channels_last)
    return model


def build_loader(cfg, ann_file: str | os.PathLike, video_prefix: str | os.PathLike, batch_size: int = 16,
                 num_workers: int = 0):
    """A test-mode dataloader over ``ann_file`` with the expert's own test pipeline (in list order).

    ``num_workers > 0`` decodes in worker processes while the main process runs the forward pass.
    """
    import copy

    from mmaction.utils import register_all_modules
    from mmengine.runner import Runner

    register_all_modules(init_default_scope=True)
    loader_cfg = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if loader_cfg is None:
        raise JediError(f'{cfg.filename}: no test_dataloader/val_dataloader to take the test pipeline from')
    pipeline = copy.deepcopy(loader_cfg.dataset.pipeline)
    return Runner.build_dataloader(dict(
        batch_size=batch_size, num_workers=int(num_workers), persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='VideoDataset', ann_file=str(ann_file), data_prefix=dict(video=str(video_prefix)),
                     pipeline=pipeline, test_mode=True)))


@dataclass
class ExpertSpec:
    """An expert to extract with: its config and exported checkpoint."""
    config: Path
    checkpoint: Path
    name: str = ''
    cfg: object = None
    sha256: str = ''
    dataset: str = ''
    provenance: dict = field(default_factory=dict)   # the checkpoint's meta['provenance'] (imported experts)

    def load(self, data_root: Path | None = None) -> ExpertSpec:
        self.cfg = load_expert_config(self.config, data_root=data_root)
        self.name = self.name or expert_name(self.config)
        self.dataset = self.cfg.dataset_name
        if not self.checkpoint.is_file():
            raise JediError(f'checkpoint {self.checkpoint} of expert {self.name} does not exist '
                            f'(run `jedi experts train {self.config}` first)')
        self.sha256 = sha256_file(self.checkpoint)
        self.provenance = checkpoint_provenance(self.checkpoint)
        return self


def checkpoint_provenance(path: Path) -> dict:
    """``meta['provenance']`` of a checkpoint (where its weights come from: package, version, sha256s,
    licence; ``jedi experts import`` writes it), or ``{}``."""
    from jedi_repro.data.files import load_expert_state

    _, meta = load_expert_state(path)
    prov = meta.get('provenance') if isinstance(meta, dict) else None
    return dict(prov) if isinstance(prov, dict) else {}


def default_expert_configs() -> list[Path]:
    """The shipped ``mm_configs/experts/*.py`` trained here (``jedi_repro.resources``); the configs of
    imported published networks (``jedi_repro.experts.i3d_import.SOURCES``) are named explicitly instead."""
    from jedi_repro.experts.i3d_import import SOURCES
    from jedi_repro.resources import config_path
    root = config_path('experts')
    imported = {Path(s.config).name for s in SOURCES.values()}
    return sorted(p for p in root.glob('*.py') if not p.name.startswith('_') and p.name not in imported)


def parse_expert_arg(text: str) -> ExpertSpec:
    """``CONFIG`` or ``CONFIG=CHECKPOINT`` (default checkpoint: the train command's export), or the name of
    an imported published expert (``jedi experts import NAME``: its config and checkpoint)."""
    from jedi_repro.experts.i3d_import import SOURCES, default_output
    from jedi_repro.experts.train import EXPORT_NAME, default_work_dir

    if text in SOURCES:
        from jedi_repro.resources import config_path
        spec = ExpertSpec(config_path(SOURCES[text].config), default_output(SOURCES[text]))
        if not spec.checkpoint.is_file():
            raise JediError(f'expert {text} is not imported yet ({spec.checkpoint} does not exist): run '
                            f'`jedi experts import {text}` first')
        return spec
    if '=' in text:
        cfg, ckpt = text.split('=', 1)
        return ExpertSpec(Path(cfg), Path(ckpt))
    return ExpertSpec(Path(text), default_work_dir(text) / EXPORT_NAME)


# ------------------------------------------------------------------------------------------ videos, cache
@dataclass
class SplitData:
    """A (dataset, split) after video checks: the list to extract from and its labels."""
    dataset: DatasetInfo
    split: str
    ann_file: Path
    entries: list[tuple[str, int]]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    keep: np.ndarray | None = None       # bool over the original list (False = skipped video)

    @property
    def labels(self) -> np.ndarray:
        return np.asarray([lab for _, lab in self.entries], np.int64)


def check_split(ds: DatasetInfo, split: str, skip_bad_videos: bool, tmp_dir: Path) -> SplitData:
    """Verify every video of a split decodes; raise (or, with ``skip_bad_videos``, drop and count).

    Raises:
        JediError: a missing or corrupt video (file named), unless ``skip_bad_videos``; or a split whose
            videos are all bad.
    """
    ann = ds.splits[split]
    entries = read_annotations(ann, len(ds.classes))
    bad = []
    checked: set[str] = set()
    for rel, _ in entries:
        if rel in checked:  # a list may name a video twice: decoding it once says as much
            continue
        checked.add(rel)
        why = video_problem(ds.video_prefix / rel)
        if why is not None:
            bad.append((str(ds.video_prefix / rel), why))
            if not skip_bad_videos:
                raise JediError(f'video {ds.video_prefix / rel} (listed in {ann}) is unusable: {why}. Fix or '
                                'remove it, or pass --skip-bad-videos to leave it out of every block')
    if not bad:
        return SplitData(ds, split, ann, entries, keep=np.ones(len(entries), bool))
    bad_set = {p for p, _ in bad}
    keep = np.array([str(ds.video_prefix / rel) not in bad_set for rel, _ in entries])
    kept = [e for e, k in zip(entries, keep) if k]
    if not kept:
        raise JediError(f'every video listed in {ann} is unusable (first: {bad[0][0]}: {bad[0][1]})')
    filtered = tmp_dir / f'{ds.name}.{split}.txt'
    filtered.write_text(''.join(f'{rel} {lab}\n' for rel, lab in kept))
    return SplitData(ds, split, filtered, kept, skipped=bad, keep=keep)


def block_key(expert: ExpertSpec, data: SplitData, bf16: bool, channels_last: bool) -> str:
    """Cache key of one block: model + test pipeline, checkpoint sha256, list content, video stats."""
    cfg = expert.cfg
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    h = hashlib.sha256()
    h.update(json.dumps(dict(
        version=CACHE_VERSION,
        model=cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model),
        pipeline=[dict(t) for t in loader.dataset.pipeline], layer=feature_layer(cfg), ckpt=expert.sha256,
        bf16=bf16, channels_last=channels_last), sort_keys=True, default=str).encode())
    for rel, lab in data.entries:
        st = (data.dataset.video_prefix / rel).stat()
        h.update(f'{rel} {lab} {st.st_size} {st.st_mtime_ns}\n'.encode())
    return h.hexdigest()


def cache_dir() -> Path:
    return workspace.path('cache', 'extract')


def _cache_load(key: str, root: Path | None = None) -> np.ndarray | None:
    f = (root or cache_dir()) / f'{key}.npy'
    if not f.is_file():
        return None
    try:
        return np.load(f, allow_pickle=False)
    except (OSError, ValueError):
        return None  # a damaged cache entry is recomputed, never trusted


def _cache_save(key: str, feats: np.ndarray, root: Path | None = None) -> None:
    from jedi_repro.atomic import atomic_path
    d = root or cache_dir()
    with atomic_path(d / f'{key}.npy') as tmp, open(tmp, 'wb') as f:
        np.save(f, feats, allow_pickle=False)


# ------------------------------------------------------------------------------------------------- driver
def extract_block(expert: ExpertSpec, model, data: SplitData, bf16: bool = False, channels_last: bool = False,
                  use_cache: bool = True, batch_size: int = 16, progress=None,
                  stats: dict | None = None, cache_root: Path | None = None,
                  cached_only: bool = False, num_workers: int = 0) -> np.ndarray:
    """Features of one (expert, dataset, split) block, from the cache or computed (then cached).

    Args:
        expert: a loaded ``ExpertSpec``.
        model: a zero-argument callable returning the built expert (called only on a cache miss).
        data: the checked split.
        bf16, channels_last: numeric options (part of the cache key).
        use_cache: read and fill the block cache.
        batch_size: clips per forward pass.
        progress: callable(n_batches) after each batch, and (n_batches_of_block) on a cache hit.
        stats: dict whose 'computed'/'cached' counters and 'data_s'/'forward_s' times are incremented.
        cache_root: the cache directory (default ``cache_dir()``; a distributed extraction's parts dir).
        cached_only: the block must be in the cache (the merge step of a distributed extraction).
        num_workers: DataLoader worker processes decoding ahead of the forward pass.
    """
    key = block_key(expert, data, bf16, channels_last)
    if use_cache or cached_only:
        cached = _cache_load(key, cache_root)
        if cached is not None and cached.shape[0] == len(data.entries):
            if stats is not None:
                stats['cached'] = stats.get('cached', 0) + 1
            if progress is not None:
                progress(-(-len(data.entries) // batch_size))
            return cached
    if cached_only:
        raise JediError(f'the part of block {expert.name} x {data.dataset.name}/{data.split} is missing or '
                        f'damaged in {cache_root} (key {key}): a rank did not finish; rerun the extraction')
    loader = build_loader(expert.cfg, data.ann_file, data.dataset.video_prefix, batch_size=batch_size,
                          num_workers=num_workers)
    feats, labels = penultimate_features(model(), loader, layer=feature_layer(expert.cfg), bf16=bf16,
                                         progress=progress, timing=stats)
    if not np.array_equal(labels, data.labels):
        raise JediError(f'labels from the dataloader of {data.ann_file} do not match the list '
                        '(order changed?)')
    if not np.isfinite(feats).all():
        raise JediError(f'expert {expert.name} produced NaN/Inf features on {data.ann_file}')
    if use_cache:
        _cache_save(key, feats, cache_root)
    if stats is not None:
        stats['computed'] = stats.get('computed', 0) + 1
    return feats


def extract(data_root: str | os.PathLike, out: str | os.PathLike, experts: list[ExpertSpec] | None = None,
            skip_bad_videos: bool = False, bf16: bool = False, channels_last: bool | str = 'auto',
            use_cache: bool = True, overwrite: bool = False, feature_dtype: str = 'float32',
            batch_size: int = 16, show_progress: bool = True, log=print, parts_dir: Path | None = None,
            num_workers: int | str = 'auto') -> dict:
    """Every expert over every dataset and split of a data root -> a feature store.

    Args:
        data_root: directory written by ``jedi synth`` (or a real data root with the same layout).
        out: the feature store directory to create.
        experts: which experts; default every ``mm_configs/experts/*.py`` with its exported checkpoint.
        skip_bad_videos: leave unusable videos out of every block (and count them) instead of failing.
        bf16: bf16 autocast (see ``BF16_FEATURE_REL_TOL``).
        channels_last: channels-last conv weights: True, False, or 'auto' = for 3D-CNN recognizers only,
            where ``python benchmarks/bench_extract_precision.py`` measured 1.2-1.4x at a relative feature
            change of ~3e-7 (2D TSM: no gain). bf16 is opt-in: it sped up two experts and slowed two.
        use_cache: reuse / fill the block cache under ``$JEDI_HOME/cache/extract``.
        overwrite: replace an existing store at ``out``.
        feature_dtype: 'float32' or 'float16' for the stored features.
        batch_size: clips per forward pass.
        show_progress: tqdm bars.
        log: printer for the summary lines (``None`` for silence).
        parts_dir: merge step of a distributed extraction (``jedi_repro.experts.extract_dist``): every
            block comes from the parts the ranks wrote there (a missing one is an error), nothing is
            computed; the store is written as always (temp dir, validation, rename).
        num_workers: DataLoader workers decoding ahead of the forward pass; 'auto' = up to 4 with CUDA,
            0 on CPU (``auto_workers``; ``benchmarks/bench_extract_vs_mmaction.py`` measures it).

    Returns:
        ``{'store': path, 'blocks': n, 'computed': k, 'cached': m, 'skipped_videos': {...}, 'wall_s': s,
        'check_s', 'data_s', 'forward_s', 'num_workers'}``: ``check_s`` the up-front decode check of every
        video, ``data_s`` the time the forward loop waited for decoded batches, ``forward_s`` the forward
        passes (see ``penultimate_features``).
    """
    from tqdm import tqdm

    from jedi_repro.data.feature_store import FeatureStoreWriter

    t0 = time.time()
    data_root = Path(data_root).expanduser().resolve()
    datasets, specs = load_plan(data_root, experts)
    stats: dict = {'data_s': 0.0, 'forward_s': 0.0}
    skipped: dict[str, int] = {}
    workers = auto_workers() if num_workers == 'auto' else int(num_workers)
    with tempfile.TemporaryDirectory(prefix='jedi-extract-') as tmp, \
            FeatureStoreWriter(out, overwrite=overwrite) as writer:
        splits: dict[tuple[str, str], SplitData] = {}
        t_check = time.time()
        for ds in datasets:
            writer.add_dataset(ds.name, ds.classes, metric=ds.metric, multilabel=ds.multilabel)
            for split in ds.splits:
                data = check_split(ds, split, skip_bad_videos, Path(tmp))
                splits[ds.name, split] = data
                if data.skipped:
                    skipped[f'{ds.name}/{split}'] = len(data.skipped)
                    if log:
                        log(f'extract: skipped {len(data.skipped)} unusable video(s) in {ds.name}/{split}, '
                            f'e.g. {data.skipped[0][0]}: {data.skipped[0][1]}')
                writer.add_labels(ds.name, split, data.labels)
            if 'train' in ds.splits and ds.labeled_list is not None:
                labeled = {rel for rel, _ in read_annotations(ds.labeled_list, len(ds.classes))}
                tr = splits[ds.name, 'train']
                writer.set_labeled_mask(ds.name, np.array([rel in labeled for rel, _ in tr.entries]))
        check_clip_lengths(specs, splits)
        check_s = time.time() - t_check
        for spec in specs:
            cache: dict = {}
            cl = channels_last_for(spec, channels_last)

            # Built lazily: an expert whose blocks are all cached never loads its weights.
            def model(spec=spec, cache=cache, cl=cl):
                if 'm' not in cache:
                    cache['m'] = build_expert(spec.cfg, spec.checkpoint, channels_last=cl)
                return cache['m']

            t1 = time.time()
            dim = None
            n_batches = sum(-(-len(d.entries) // batch_size) for d in splits.values())
            bar = tqdm(total=n_batches, desc=f'extract {spec.name}', unit='batch', disable=not show_progress)
            for (ds_name, split), data in splits.items():
                bar.set_postfix_str(f'{ds_name}/{split}')
                feats = extract_block(spec, model, data, bf16=bf16, channels_last=cl,
                                      use_cache=use_cache, batch_size=batch_size, progress=bar.update,
                                      stats=stats, cache_root=parts_dir, cached_only=parts_dir is not None,
                                      num_workers=workers)
                if dim is None:
                    if 'm' in cache:
                        w, b = head_params(cache['m'], feature_layer(spec.cfg))
                    else:
                        w, b = _head_from_checkpoint(spec)
                    dim = feats.shape[1]
                    writer.add_expert(spec.name, dataset=spec.dataset, dim=dim, head_weight=w, head_bias=b,
                                      config=str(spec.config), checkpoint_sha256=spec.sha256,
                                      provenance=spec.provenance or None)
                writer.add_features(spec.name, ds_name, split, feats.astype(feature_dtype))
            bar.close()
            if log:
                log(f'extract: {spec.name} ({spec.dataset}, dim {dim}) over {len(splits)} splits in '
                    f'{time.time() - t1:.1f} s')
    result = dict(store=str(Path(out).resolve()), blocks=len(specs) * len(splits),
                  computed=stats.get('computed', 0), cached=stats.get('cached', 0), skipped_videos=skipped,
                  wall_s=round(time.time() - t0, 2), check_s=round(check_s, 2),
                  data_s=round(stats['data_s'], 2), forward_s=round(stats['forward_s'], 2),
                  num_workers=workers)
    if log:
        log(f'extract: wrote {result["store"]}: {result["blocks"]} blocks ({result["computed"]} computed, '
            f'{result["cached"]} from cache) in {result["wall_s"]} s')
    return result


def check_clip_lengths(specs: list[ExpertSpec], splits: dict) -> None:
    """Every listed clip suits every expert's test pipeline (e.g. long enough at its frame rate,
    ``DecodeAtFps``), before a forward pass: a refusal inside the DataLoader would surface mid-run.

    Raises:
        JediError: the first clip an expert's pipeline refuses (file, list and config named).
    """
    from jedi_repro.experts.decode_at_fps import pipeline_clip_problem

    for spec in specs:
        if not any(s.get('type') == 'DecodeAtFps' for s in spec.cfg.get('test_pipeline') or []):
            continue
        for data in splits.values():
            for rel in dict.fromkeys(rel for rel, _ in data.entries):
                why = pipeline_clip_problem(spec.cfg, data.dataset.video_prefix / rel)
                if why is not None:
                    raise JediError(f'{why} (listed in {data.ann_file}; test pipeline of expert {spec.name}, '
                                    f'{spec.config})')


def channels_last_for(spec: ExpertSpec, channels_last: bool | str) -> bool:
    """``'auto'``: channels-last for 3D-CNN recognizers only."""
    is_3d = spec.cfg.model.get('type') == 'Recognizer3D'
    return is_3d if channels_last == 'auto' else bool(channels_last)


def load_plan(data_root: Path, experts: list[ExpertSpec] | None) -> tuple[list, list[ExpertSpec]]:
    """The data root's datasets and the loaded experts (in dataset order), checked against each other."""
    datasets = read_data_root(data_root)
    by_name = {d.name: d for d in datasets}
    specs = experts if experts is not None else [parse_expert_arg(str(p)) for p in default_expert_configs()]
    if not specs:
        raise JediError('no experts to extract with')
    for s in specs:
        s.load(data_root)
        if s.dataset not in by_name:
            raise JediError(f'expert {s.name} ({s.config}) is trained on dataset {s.dataset!r}, which is '
                            f'not in '
                            f'{data_root} (datasets: {sorted(by_name)})')
        n_cls = int(s.cfg.model.cls_head.num_classes)
        if n_cls != len(by_name[s.dataset].classes):
            raise JediError(f'expert {s.name}: {n_cls} classes in {s.config}, but dataset {s.dataset!r} has '
                            f'{len(by_name[s.dataset].classes)}')
    # Every checkpoint fits its model before any block is computed or cached (names and shapes only).
    for s in specs:
        check_checkpoint(s.cfg, s.checkpoint)
    order = {d.name: i for i, d in enumerate(datasets)}
    return datasets, sorted(specs, key=lambda s: order[s.dataset])


def auto_workers() -> int:
    """DataLoader workers for extraction: with a GPU doing the forward pass, up to 4 CPU processes decode
    ahead of it; on CPU none, since decoding would compete with the forward pass for the same cores (one
    worker gained nothing on 2 cores: benchmarks/README.md, "Extraction")."""
    import torch
    return min(4, (os.cpu_count() or 1) - 1) if torch.cuda.is_available() else 0


def _head_from_checkpoint(spec: ExpertSpec) -> tuple[np.ndarray, np.ndarray]:
    """Head weights straight from the state dict (no model build needed when every block was cached)."""
    from jedi_repro.data.files import load_expert_state

    state, _ = load_expert_state(spec.checkpoint, mmap=True)  # checked against the model by load_plan
    layer = feature_layer(spec.cfg)
    w, b = state.get(f'{layer}.weight'), state.get(f'{layer}.bias')
    if w is None:
        raise JediError(f'checkpoint {spec.checkpoint} has no {layer}.weight')
    w = w.float().numpy()
    return w, (b.float().numpy() if b is not None else np.zeros(w.shape[0], np.float32))
