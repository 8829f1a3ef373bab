"""A small MMAction2-compatible expert over YouTube-8M video-level features, and its training/extraction.

The expert is an ordinary MMAction2 recognizer so that the project's expert/extract path applies to it:
``VideoLevelRecognizer`` (a ``BaseRecognizer``) = ``VideoLevelMLP`` backbone + MMAction2's own
``TSNHead`` (``spatial_type=None``, one segment), so ``cls_head.fc_cls`` is the last ``Linear`` and its
input is the penultimate feature. Every expert receives the same 1152-d input ``[rgb(1024) | audio(128)]``;
the backbone's ``modality`` decides what it looks at, so heterogeneous experts (RGB-only, audio-only,
both; different widths/depths) differ only in config.

Training uses mmengine's ``Runner`` on one dataset's labelled train subset, selecting the epoch with the
best val top-1 (``CheckpointHook(save_best=...)``). Data come from ``VideoFeatureDataset``: a ``.npz``
with ``features`` [N, 1152] and ``labels`` [N], written by the benchmark itself.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from jedi_repro import compat
from jedi_repro.aggregates import pct
from jedi_repro.atomic import atomic_path
from jedi_repro.errors import JediError

compat.apply()

from mmaction.models.recognizers.base import BaseRecognizer  # noqa: E402
from mmengine.dataset import BaseDataset  # noqa: E402

from jedi_repro.registry import DATASETS, MODELS  # noqa: E402
from jedi_repro.resources import config_path  # noqa: E402

MODALITIES = {'rgb': (0, 1024), 'audio': (1024, 1152), 'rgb+audio': (0, 1152)}
INPUT_DIM = 1152
CONFIG_DIR = config_path('yt8m')


class ExpertError(JediError):
    """A video-level expert cannot be built, trained or applied; the message names the field/file."""


def modality_slice(modality: str) -> slice:
    """The columns of ``[rgb | audio]`` an expert of ``modality`` reads."""
    if modality not in MODALITIES:
        raise ExpertError(f'modality {modality!r}: expected one of {sorted(MODALITIES)}')
    return slice(*MODALITIES[modality])


@MODELS.register_module()
class VideoLevelMLP(nn.Module):
    """MLP backbone over video-level features: input BatchNorm, then ``num_layers`` x (Linear, BN, ReLU).

    Args:
        modality: ``'rgb'``, ``'audio'`` or ``'rgb+audio'``: the slice of the 1152-d input it reads.
        hidden: Width of every hidden layer (= the penultimate feature dim).
        num_layers: Number of hidden layers.
        dropout: Dropout between hidden layers (the head has its own dropout before ``fc_cls``).
    """

    def __init__(self, modality: str = 'rgb+audio', hidden: int = 256, num_layers: int = 1,
                 dropout: float = 0.2):
        super().__init__()
        self.cols = modality_slice(modality)
        in_dim = self.cols.stop - self.cols.start
        if hidden < 1 or num_layers < 1:
            raise ExpertError(f'VideoLevelMLP: hidden={hidden} and num_layers={num_layers} must be >= 1')
        layers: list[nn.Module] = [nn.BatchNorm1d(in_dim)]  # video-level features are not standardised
        for i in range(num_layers):
            if i:
                layers.append(nn.Dropout(dropout))
            layers += [nn.Linear(in_dim if i == 0 else hidden, hidden), nn.BatchNorm1d(hidden),
                       nn.ReLU(inplace=True)]
        self.net = nn.Sequential(*layers)
        self.out_dim = hidden

    def init_weights(self) -> None:  # BaseModel.init_weights calls it; torch defaults are fine
        pass

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != INPUT_DIM:
            raise ExpertError(f'VideoLevelMLP: input shape {tuple(x.shape)}, expected [N, {INPUT_DIM}]')
        return self.net(x[:, self.cols])


@MODELS.register_module()
class VideoLevelRecognizer(BaseRecognizer):
    """Recognizer for one feature vector per video: backbone -> ``TSNHead`` with one segment."""

    def extract_feat(self, inputs: torch.Tensor, stage: str = 'neck', data_samples=None,
                     test_mode: bool = False) -> tuple:
        """Backbone features (``stage='backbone'``/``'neck'``) or class scores (``stage='head'``).

        Args:
            inputs: ``[N, 1152]`` batch (``[N, 1, 1152]`` is accepted, as MMAction2 adds a clip axis).
            stage: Where to stop.
            data_samples: Unused (kept for the MMAction2 signature).
            test_mode: Unused: one clip per video, nothing to average.
        """
        x = inputs.reshape(inputs.shape[0], -1)
        kwargs = dict(num_segs=1)
        x = self.backbone(x)
        if stage == 'head' and self.with_cls_head:
            return self.cls_head(x, **kwargs), kwargs
        return x, kwargs


@DATASETS.register_module()
class VideoFeatureDataset(BaseDataset):
    """Video-level feature vectors with single labels, from an ``.npz`` (``features``, ``labels``).

    Each item is ``{'audios': float32 [D], 'label': int}`` so MMAction2's ``PackActionInputs`` packs it
    (its ``audios`` branch is the one that takes a plain feature tensor).

    Args:
        ann_file: The ``.npz`` path.
        pipeline: Transforms (``[dict(type='PackActionInputs')]``).
        num_classes: If given, labels must lie in ``[0, num_classes)``.
    """

    def __init__(self, ann_file: str, pipeline=(), num_classes: int | None = None, **kwargs):
        self.num_classes = num_classes
        super().__init__(ann_file=ann_file, pipeline=list(pipeline), **kwargs)

    def load_data_list(self) -> list[dict]:
        path = Path(self.ann_file)
        if not path.is_file():
            raise ExpertError(f'VideoFeatureDataset: {path} does not exist')
        with np.load(path, allow_pickle=False) as z:
            if 'features' not in z.files or 'labels' not in z.files:
                raise ExpertError(f'{path}: needs arrays "features" and "labels", has {z.files}')
            x, y = z['features'].astype(np.float32), z['labels'].astype(np.int64)
        if x.ndim != 2 or len(x) != len(y):
            raise ExpertError(f'{path}: features {x.shape} and labels {y.shape} do not match')
        if not np.isfinite(x).all():
            raise ExpertError(f'{path}: features contain NaN or infinite values')
        if self.num_classes is not None and len(y) and (y.min() < 0 or y.max() >= self.num_classes):
            raise ExpertError(f'{path}: labels outside [0, {self.num_classes})')
        return [dict(audios=x[i], label=int(y[i])) for i in range(len(y))]


def write_split_file(path: str | os.PathLike, features: np.ndarray, labels: np.ndarray) -> Path:
    """Write a ``VideoFeatureDataset`` file atomically (temp file + rename)."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        np.savez(f, features=np.asarray(features, np.float32), labels=np.asarray(labels, np.int64))
    return path


def expert_config(num_classes: int, train_file: str, val_file: str, work_dir: str,
                  modality: str = 'rgb+audio', hidden: int = 256, num_layers: int = 1,
                  max_epochs: int | None = None, seed: int = 0, base: str | os.PathLike | None = None):
    """The mmengine config of one expert: ``mm_configs/yt8m/expert_mlp.py`` with this expert's fields.

    Args:
        num_classes: Classes of the expert's dataset.
        train_file: ``VideoFeatureDataset`` file of the labelled train subset.
        val_file: ``VideoFeatureDataset`` file of the val split (model selection).
        work_dir: mmengine work dir.
        modality: Backbone input (``rgb``, ``audio``, ``rgb+audio``).
        hidden: Penultimate width.
        num_layers: Hidden layers.
        max_epochs: Overrides the base config's epochs.
        seed: ``randomness.seed``.
        base: Another base config file.
    """
    from mmengine.config import Config
    cfg = Config.fromfile(str(base or CONFIG_DIR / 'expert_mlp.py'))
    cfg.model.backbone.update(modality=modality, hidden=hidden, num_layers=num_layers)
    cfg.model.cls_head.update(num_classes=num_classes, in_channels=hidden)
    cfg.train_dataloader.dataset.update(ann_file=str(train_file), num_classes=num_classes)
    cfg.val_dataloader.dataset.update(ann_file=str(val_file), num_classes=num_classes)
    if max_epochs is not None:
        cfg.train_cfg.max_epochs = max_epochs
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.work_dir = str(work_dir)
    return cfg


def train_expert(cfg) -> tuple[nn.Module, dict]:
    """Train with mmengine's Runner and return the best-val model (eval mode, CPU) and its val metrics.

    Args:
        cfg: An ``mmengine.Config`` from :func:`expert_config`.
    """
    from jedi_repro.console import runner_class
    runner = runner_class(f'expert {Path(cfg.work_dir).name}').from_cfg(copy.deepcopy(cfg))  # quiet unless -v
    runner.train()
    best = None
    for hook in runner.hooks:
        best = getattr(hook, 'best_ckpt_path', None) or best
    if best is None:
        raise ExpertError(f'{cfg.work_dir}: training wrote no best checkpoint (is val_evaluator set?)')
    runner.load_checkpoint(best)  # a file this run wrote; loaded with torch's restricted unpickler
    metrics = runner.val_loop.run()
    model = runner.model.eval()
    # The Runner keeps log handlers open on the work dir; release them (many experts per process).
    import logging
    for h in list(runner.logger.handlers):
        if isinstance(h, logging.FileHandler):
            h.close()
            runner.logger.removeHandler(h)
    return model, {k: float(v) for k, v in metrics.items()}


def feature_batches(inputs: np.ndarray, labels: np.ndarray, batch_size: int = 1024):
    """MMAction2 batches (``inputs`` list + ``ActionDataSample`` list) over rows of video-level features.

    Args:
        inputs: ``[N, 1152]`` float features.
        labels: ``[N]`` int labels carried in ``gt_label`` (returned by the extractor, checked for order).
        batch_size: Rows per batch.
    """
    from mmaction.structures import ActionDataSample
    if len(inputs) != len(labels):
        raise ExpertError(f'{len(inputs)} feature rows but {len(labels)} labels')
    x = torch.from_numpy(np.array(inputs, dtype=np.float32))
    for i in range(0, len(x), batch_size):
        rows = range(i, min(i + batch_size, len(x)))
        yield dict(inputs=[x[r] for r in rows],
                   data_samples=[ActionDataSample().set_gt_label(int(labels[r])) for r in rows])


def penultimate_features(model: nn.Module, inputs: np.ndarray, labels: np.ndarray,
                         batch_size: int = 1024) -> np.ndarray:
    """Input of ``cls_head.fc_cls`` for every row, via the project's extract path.

    ``jedi_repro.experts.extract.penultimate_features`` runs ``model.test_step`` (data preprocessor +
    predict) with a forward-pre-hook on the head's last Linear, exactly as for video recognizers.

    Args:
        model: A trained recognizer with ``cls_head.fc_cls``.
        inputs: ``[N, 1152]`` float video-level features.
        labels: ``[N]`` int labels of those rows (passed through, used to check the order).
        batch_size: Rows per forward.
    """
    from jedi_repro.experts.extract import penultimate_features as extract_penultimate
    feats, seen = extract_penultimate(model, feature_batches(inputs, labels, batch_size))
    if not np.array_equal(seen, np.asarray(labels, np.int64)):
        raise ExpertError('extracted rows came back in a different order than the inputs')
    return feats


def head_params(model: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """The expert's own classifier ``(weight [C, D], bias [C])`` (``extract.head_params``)."""
    from jedi_repro.experts.extract import head_params as extract_head_params
    return extract_head_params(model)


def save_expert(model: nn.Module, path: str | os.PathLike, meta: dict) -> str:
    """Save a plain ``{'state_dict', 'meta'}`` checkpoint atomically; return its sha256.

    Plain tensors only, so anyone can load it with ``torch.load(weights_only=True)``.
    """
    path = Path(path)
    plain_meta = {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in meta.items()}
    with atomic_path(path) as tmp:
        torch.save({'state_dict': {k: v.detach().cpu() for k, v in model.state_dict().items()},
                    'meta': plain_meta}, tmp)
    h = hashlib.sha256()
    with open(path, 'rb') as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------ the YouTube-8M experts + store stage
def load_setting(path: str | os.PathLike):
    """A benchmark setting (``mm_configs/yt8m/setting_*.py``): cut, labelled fraction, experts.

    Raises:
        ExpertError: naming the file and the missing/unknown field.
    """
    from mmengine.config import Config
    path = Path(path)
    if not path.is_file():
        raise ExpertError(f'setting file {path} does not exist')
    cfg = Config.fromfile(str(path))
    for key in ('name', 'cut', 'labeled_fraction', 'experts'):
        if key not in cfg:
            raise ExpertError(f'{path}: missing field {key!r}')
    allowed = {'modality', 'hidden', 'num_layers', 'max_epochs'}
    for ds, spec in cfg.experts.items():
        bad = set(spec) - allowed
        if bad:
            raise ExpertError(f'{path}: experts.{ds}: unknown key(s) {sorted(bad)} '
                              f'(allowed {sorted(allowed)})')
    return cfg


def expert_name(dataset: str, spec: dict) -> str:
    """Store name of an expert, saying what it sees: ``sports_rgb512x2``, ``autos_vehicles_rgbaudio256``."""
    layers = spec['num_layers']
    suffix = f'x{layers}' if layers > 1 else ''
    return f"{dataset}_{spec['modality'].replace('+', '')}{spec['hidden']}{suffix}"


def build_yt8m_store(data, cut: list, setting, store_dir: str | os.PathLike, work_dir: str | os.PathLike,
                     overwrite: bool = False, log=print) -> dict:
    """Train one expert per dataset on its labelled train subset and write the feature store.

    Every expert's penultimate features are extracted for every dataset and split (n x n blocks); the
    store's labelled mask of each dataset is the subset its expert was trained on.

    Args:
        data: ``jedi_repro.data.yt8m.YT8MData``.
        cut: The datasets (``cut_datasets``), in store order.
        setting: A setting config (:func:`load_setting`).
        store_dir: Feature store directory (written atomically).
        work_dir: Where the experts' mmengine work dirs, data files and checkpoints go.
        overwrite: Replace an existing store.
        log: A ``print``-like callable for progress lines.

    Returns:
        ``{expert: {dataset, modality, hidden, num_layers, val: {...}, test_top1, test_mean_class,
        n_labeled, checkpoint_sha256, train_s}}``.
    """
    import time

    from jedi_repro.data.feature_store import FeatureStoreWriter
    from jedi_repro.data.yt8m import labeled_mask
    work_dir = Path(work_dir)
    unknown = set(setting.experts) - {c.name for c in cut}
    if unknown:
        raise ExpertError(f'setting {setting.name!r}: experts for unknown dataset(s) {sorted(unknown)}; '
                          f'the cut has {[c.name for c in cut]}')
    inputs = {(c.name, s): data.video_features(v) for c in cut for s, v in c.videos.items()}
    masks = {c.name: labeled_mask(c.labels['train'], setting.labeled_fraction, setting.get('labeled_seed', 0))
             for c in cut}
    summary = {}
    with FeatureStoreWriter(store_dir, overwrite=overwrite) as w:
        for c in cut:
            w.add_dataset(c.name, c.classes, metric='top1')
            for s, y in c.labels.items():
                w.add_labels(c.name, s, y)
            w.set_labeled_mask(c.name, masks[c.name])
        for c in cut:
            spec = dict(modality='rgb+audio', hidden=256, num_layers=1)
            spec.update(setting.get('expert_defaults', {}))
            spec.update(setting.experts.get(c.name, {}))
            name = expert_name(c.name, spec)
            t0 = time.perf_counter()
            ew = work_dir / name
            m = masks[c.name]
            tr = write_split_file(ew / 'train_labeled.npz', inputs[c.name, 'train'][m], c.labels['train'][m])
            va = write_split_file(ew / 'val.npz', inputs[c.name, 'val'], c.labels['val'])
            cfg = expert_config(len(c.classes), tr, va, ew / 'mmengine', modality=spec['modality'],
                                hidden=spec['hidden'], num_layers=spec['num_layers'],
                                max_epochs=spec.get('max_epochs'), seed=setting.get('labeled_seed', 0))
            model, val = train_expert(cfg)
            sha = save_expert(model, ew / 'expert.pth', dict(setting=setting.name, dataset=c.name, **spec))
            cfg.dump(str(ew / 'config.py'))
            weight, bias = head_params(model)
            w.add_expert(name, dataset=c.name, dim=spec['hidden'], head_weight=weight, head_bias=bias,
                         config=json.dumps(dict(base='mm_configs/yt8m/expert_mlp.py', **spec)),
                         checkpoint_sha256=sha)
            for other in cut:
                for s in other.videos:
                    w.add_features(name, other.name, s,
                                   penultimate_features(model, inputs[other.name, s], other.labels[s]))
            test_feat = penultimate_features(model, inputs[c.name, 'test'], c.labels['test'])
            pred = (test_feat @ weight.T + bias).argmax(1)
            y = c.labels['test']
            per_class = [float((pred[y == k] == k).mean()) for k in np.unique(y)]
            summary[name] = dict(dataset=c.name, **spec, val=val, n_labeled=int(m.sum()),
                                 test_top1=float((pred == y).mean()),
                                 test_mean_class=float(np.mean(per_class)),
                                 checkpoint_sha256=sha, train_s=round(time.perf_counter() - t0, 2))
            val_top1 = val.get('acc/top1', float('nan'))
            log(f'  expert {name}: {int(m.sum())} labelled videos, val top-1 {pct(val_top1)} %,'
                f' test top-1 {pct(summary[name]["test_top1"])} % ({summary[name]["train_s"]:.1f} s)')
    return summary


# ------------------------------------------------------------------ diagnostics: what each expert knows
def linear_probe(train_x: np.ndarray, train_y: np.ndarray, eval_x: np.ndarray, num_classes: int,
                 weight_decay: float = 1e-3, steps: int = 100) -> np.ndarray:
    """Fit a softmax regression on frozen features and return class probabilities for ``eval_x``.

    Used to measure how much a (frozen) expert's features say about another dataset's classes, the
    information a JEDI teacher can draw on. Features are standardised with train statistics; L-BFGS,
    deterministic.

    Args:
        train_x: ``[N, D]`` features of the labelled samples.
        train_y: ``[N]`` int labels.
        eval_x: ``[M, D]`` features to predict.
        num_classes: Number of classes.
        weight_decay: L2 penalty on the weights.
        steps: L-BFGS iterations.
    """
    x = torch.from_numpy(np.array(train_x, np.float32))
    mu, sd = x.mean(0), x.std(0) + 1e-6
    x = (x - mu) / sd
    y = torch.as_tensor(np.asarray(train_y, np.int64))
    lin = nn.Linear(x.shape[1], num_classes)
    nn.init.zeros_(lin.weight)
    nn.init.zeros_(lin.bias)
    opt = torch.optim.LBFGS(lin.parameters(), lr=1.0, max_iter=steps, line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(lin(x), y) + weight_decay * lin.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        z = (torch.from_numpy(np.array(eval_x, np.float32)) - mu) / sd
        return torch.softmax(lin(z), dim=1).numpy()


def top1_and_mean_class(prob_or_pred: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Top-1 and mean class accuracy of probabilities ``[N, C]`` or predictions ``[N]`` against ``y``."""
    pred = prob_or_pred.argmax(1) if prob_or_pred.ndim == 2 else prob_or_pred
    per_class = [float((pred[y == k] == k).mean()) for k in np.unique(y)]
    return float((pred == y).mean()), float(np.mean(per_class))
