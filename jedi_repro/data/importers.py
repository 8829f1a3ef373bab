"""Import features written by MMAction2's own ``tools/misc/clip_feature_extraction.py``.

That tool (mmaction2 1.2.0) swaps the recognizer's head for a ``FeatureHead``, runs the test loop with a
``DumpResults`` metric and splits the dump into one pickle per video: ``OUTPUT_PREFIX/<video path from
the list>.pkl``. Each file holds the ``ActionDataSample.to_dict()`` of that video, whose ``pred_score``
is the pooled feature ``[D]`` (``[num_clips, D]`` with ``--long-video-mode``; clips are averaged here).
Older releases pickled the bare array, or ``{'pred_scores': {'item': ...}}``; both are read too.

Pickles can run arbitrary code when loaded, so nothing is unpickled unless the caller passes
``trust_pickle=True`` (``--trust-pickle``). The experts' heads are read from their checkpoints with
``torch.load(weights_only=True)``.

Note: ``FeatureHead`` pools the backbone output, which is the input of the classifier Linear for TSN, TSM,
I3D, SlowOnly, TimeSformer, ... but not for X3D (whose head has a hidden ``fc1``); the importer rejects a
feature/head dim mismatch, so extract X3D experts with ``jedi extract`` instead.

A spec (YAML or JSON; relative paths are relative to the spec file) says what goes where::

    datasets:
      ucf101:
        classes: ucf101_classes.txt          # one name per line, or a YAML list
        metric: top1                         # or mAP
        splits: {train: ucf_train.txt, val: ucf_val.txt, test: ucf_test.txt}   # the store needs all 3
        labeled: ucf101_train_labeled.txt    # optional: the labelled subset of train (default: all)
    experts:
      tsn_ucf101:
        dataset: ucf101                      # the dataset the expert was trained on
        checkpoint: tsn_ucf101.pth           # head = <head_layer>.weight / .bias of its state_dict
        head_layer: cls_head.fc_cls          # default; cls_head.fc2 for X3D
        features:                            # OUTPUT_PREFIX of clip_feature_extraction per block
          ucf101: {train: feats/tsn/ucf_train, val: feats/tsn/ucf_val, test: feats/tsn/ucf_test}
"""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np

from jedi_repro.data.files import load_expert_state, read_annotations, sha256_file
from jedi_repro.errors import JediError

KNOWN_DATASET_KEYS = {'classes', 'metric', 'multilabel', 'splits', 'labeled'}
KNOWN_EXPERT_KEYS = {'dataset', 'checkpoint', 'head_layer', 'features', 'config'}


class PickleRefused(JediError):
    """Loading a pickle was refused because the user did not pass ``--trust-pickle``."""


def video_feature(obj, path: str | os.PathLike) -> np.ndarray:
    """The feature vector ``[D]`` in one unpickled per-video output (clips averaged).

    Args:
        obj: what the per-video pickle holds (a dict with ``pred_score``, a legacy dict, or an array).
        path: the file, for error messages.

    Raises:
        JediError: no feature in it, or NaN/Inf values.
    """
    if isinstance(obj, dict):
        if 'pred_score' in obj:
            obj = obj['pred_score']
        elif 'pred_scores' in obj and isinstance(obj['pred_scores'], dict) and 'item' in obj['pred_scores']:
            obj = obj['pred_scores']['item']
        else:
            raise JediError(f'{path}: no `pred_score` in this clip_feature_extraction output '
                            f'(keys: {sorted(map(str, obj))[:10]})')
    if hasattr(obj, 'detach'):
        obj = obj.detach().float().cpu().numpy()
    arr = np.asarray(obj, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr.mean(0)  # long-video mode: one row per clip
    if arr.ndim != 1 or arr.size == 0:
        raise JediError(f'{path}: expected a feature vector [D] or [clips, D], got shape {list(arr.shape)}')
    if not np.isfinite(arr).all():
        raise JediError(f'{path}: the feature contains NaN or Inf values')
    return arr


def load_video_pickle(path: str | os.PathLike, trust_pickle: bool):
    """Unpickle one per-video output, only when the user trusts the files."""
    path = Path(path)
    if not trust_pickle:
        raise PickleRefused(
            f'{path} is a pickle; loading it can execute arbitrary code. Only if you trust who wrote these '
            'files, pass --trust-pickle (trust_pickle=True).')
    if not path.is_file():
        raise JediError(f'feature file {path} does not exist (is the video in the list that '
                        'clip_feature_extraction was run with?)')
    try:
        with open(path, 'rb') as f:
            return pickle.load(f)  # noqa: S301 - explicit user trust, see above
    except Exception as exc:
        raise JediError(f'cannot unpickle {path}: {exc}') from exc


def read_feature_dir(prefix: str | os.PathLike, videos: list[str], trust_pickle: bool) -> np.ndarray:
    """Features ``[N, D]`` of ``videos`` (list order) from one clip_feature_extraction output prefix."""
    prefix = Path(prefix)
    if not trust_pickle:
        load_video_pickle(prefix / (videos[0] + '.pkl'), trust_pickle)  # raises PickleRefused
    rows, dim = [], None
    for rel in videos:
        path = prefix / (rel + '.pkl')
        vec = video_feature(load_video_pickle(path, trust_pickle), path)
        if dim is None:
            dim = vec.shape[0]
        elif vec.shape[0] != dim:
            raise JediError(f'{path}: feature dim {vec.shape[0]} differs from the other videos\' {dim}')
        rows.append(vec)
    return np.stack(rows)


def _load_spec(path: Path) -> dict:
    if not path.is_file():
        raise JediError(f'import spec {path} does not exist')
    text = path.read_text()
    try:
        if path.suffix == '.json':
            spec = json.loads(text)
        else:
            import yaml
            spec = yaml.safe_load(text)
    except Exception as exc:
        raise JediError(f'cannot parse import spec {path}: {exc}') from exc
    if not isinstance(spec, dict) or not spec.get('datasets') or not spec.get('experts'):
        raise JediError(f'{path}: the spec needs non-empty `datasets` and `experts` mappings')
    unknown = set(spec) - {'datasets', 'experts'}
    if unknown:
        raise JediError(f'{path}: unknown top-level key(s) {sorted(unknown)}')
    return spec


def _head_from_checkpoint(ckpt: Path, layer: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    state, _ = load_expert_state(ckpt)
    if 'state_dict' in state and isinstance(state['state_dict'], dict):
        state = state['state_dict']
    w, b = state.get(f'{layer}.weight'), state.get(f'{layer}.bias')
    if w is None:
        raise JediError(f'{where}: checkpoint {ckpt} has no `{layer}.weight` (set head_layer)')
    w = w.float().numpy()
    b = b.float().numpy() if b is not None else np.zeros(w.shape[0], np.float32)
    return w, b


def import_mmaction(spec_path: str | os.PathLike, out: str | os.PathLike, trust_pickle: bool = False,
                    overwrite: bool = False, feature_dtype: str = 'float32') -> Path:
    """Build a feature store from clip_feature_extraction outputs, as described by a spec (module doc).

    Args:
        spec_path: YAML/JSON spec.
        out: the store to create.
        trust_pickle: allow unpickling the per-video files (required).
        overwrite: replace an existing store.
        feature_dtype: 'float32' or 'float16'.

    Returns:
        The store path.

    Raises:
        PickleRefused: without ``trust_pickle``.
        JediError: anything missing or inconsistent (file and field named).
    """
    from jedi_repro.data.feature_store import FeatureStoreWriter

    spec_path = Path(spec_path).resolve()
    base = spec_path.parent
    spec = _load_spec(spec_path)

    def p(x) -> Path:
        return (base / str(x)).resolve()

    datasets = {}
    for name, d in spec['datasets'].items():
        where = f'{spec_path}: datasets.{name}'
        if not isinstance(d, dict) or 'classes' not in d or 'splits' not in d:
            raise JediError(f'{where}: needs `classes` and `splits`')
        unknown = set(d) - KNOWN_DATASET_KEYS
        if unknown:
            raise JediError(f'{where}: unknown key(s) {sorted(unknown)}')
        classes = d['classes']
        if isinstance(classes, str):
            cfile = p(classes)
            if not cfile.is_file():
                raise JediError(f'{where}.classes: {cfile} does not exist')
            classes = [c.strip() for c in cfile.read_text().splitlines() if c.strip()]
        splits = {s: read_annotations(p(lst), len(classes)) for s, lst in d['splits'].items()}
        datasets[name] = dict(classes=list(classes), metric=d.get('metric', 'top1'),
                              multilabel=bool(d.get('multilabel', False)), splits=splits,
                              labeled=p(d['labeled']) if d.get('labeled') else None)
    if not trust_pickle:
        raise PickleRefused(f'{spec_path} points at clip_feature_extraction outputs, which are pickles; '
                            'loading them can execute arbitrary code. Only if you trust who wrote them, pass '
                            '--trust-pickle.')
    with FeatureStoreWriter(out, overwrite=overwrite) as w:
        for name, d in datasets.items():
            w.add_dataset(name, d['classes'], metric=d['metric'], multilabel=d['multilabel'])
            for split, entries in d['splits'].items():
                w.add_labels(name, split, np.array([lab for _, lab in entries], np.int64))
            if d['labeled'] is not None and 'train' in d['splits']:
                labeled = {rel for rel, _ in read_annotations(d['labeled'], len(d['classes']))}
                w.set_labeled_mask(name, np.array([rel in labeled for rel, _ in d['splits']['train']]))
        for ename, e in spec['experts'].items():
            where = f'{spec_path}: experts.{ename}'
            unknown = set(e) - KNOWN_EXPERT_KEYS
            if unknown:
                raise JediError(f'{where}: unknown key(s) {sorted(unknown)}')
            if e.get('dataset') not in datasets:
                raise JediError(f'{where}.dataset: {e.get("dataset")!r} is not one of {sorted(datasets)}')
            if 'checkpoint' not in e or 'features' not in e:
                raise JediError(f'{where}: needs `checkpoint` and `features`')
            ckpt = p(e['checkpoint'])
            weight, bias = _head_from_checkpoint(ckpt, e.get('head_layer', 'cls_head.fc_cls'), where)
            w.add_expert(ename, dataset=e['dataset'], dim=weight.shape[1], head_weight=weight, head_bias=bias,
                         config=str(e.get('config', '')), checkpoint_sha256=sha256_file(ckpt))
            for ds_name, d in datasets.items():
                for split, entries in d['splits'].items():
                    prefix = (e['features'].get(ds_name) or {}).get(split)
                    if prefix is None:
                        raise JediError(f'{where}.features.{ds_name}.{split}: missing (every expert needs '
                                        'every dataset and split: the n x n blocks)')
                    feats = read_feature_dir(p(prefix), [rel for rel, _ in entries], trust_pickle)
                    if feats.shape[1] != weight.shape[1]:
                        raise JediError(f'{where}.features.{ds_name}.{split}: feature dim {feats.shape[1]} '
                                        f'does not match the head\'s input dim {weight.shape[1]} in {ckpt}')
                    w.add_features(ename, ds_name, split, feats.astype(feature_dtype))
    return Path(out).resolve()
