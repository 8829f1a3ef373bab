"""``JEDIModel``: n students and n teachers on frozen expert features, one mmengine ``BaseModel``.

Student i = adjustment module A_k (identity at start) on the features of expert k = the expert trained on
dataset i, then a classifier initialised from that expert's head: before training, student i predicts
exactly what expert i predicts. Teacher i = fusion of all adjusted features -> dropout -> linear
(C_i logits). The teachers live in the model from construction (DESIGN.md, "Where the hook sits"); they
are trained only while ``distill`` is on, which ``JEDIDistillHook`` sets. With ``distill`` off the model
computes the student terms alone: the plain student fine-tuning baseline.

Batches (built by :mod:`jedi_repro.data.multi_dataset`):
  * train: ``feats`` (one tensor ``[B, D_k]`` per expert; rows = labelled block of dataset 0, ..., of
    dataset n-1, then the pool block grouped by dataset), ``labels`` (per dataset), ``sup_sizes`` (rows
    per labelled block), ``pool_size`` and ``pool_sizes`` (pool rows per dataset);
  * val/test: ``feats``, ``labels`` and ``dataset`` (index of the one dataset the batch comes from).
"""
from __future__ import annotations

import numpy as np
import torch
from mmengine.model import BaseModel
from torch import nn

from jedi_repro.data.feature_store import FeatureStore
from jedi_repro.errors import JediError
from jedi_repro.models.adjustment import AdjustmentModule
from jedi_repro.models.kd_pool import check_kd_pool
from jedi_repro.models.losses import KD_REDUCTIONS, jedi_loss
from jedi_repro.registry import FUSIONS, KD_LOSSES, MODELS


def _build(registry, cfg, what, **default_args):
    cfg = dict(cfg)
    if 'type' not in cfg:
        raise JediError(f'model.{what} needs a "type" (one of {sorted(registry.module_dict)})')
    registry.import_from_location()
    if cfg['type'] not in registry.module_dict:
        raise JediError(f'model.{what}.type={cfg["type"]!r} is unknown; registered: '
                        f'{sorted(registry.module_dict)}')
    try:
        return registry.build(cfg, default_args=default_args)
    except TypeError as exc:
        raise JediError(f'model.{what} ({cfg["type"]}): {exc}') from None


@MODELS.register_module()
class JEDIModel(BaseModel):
    """JEDI students and teachers over a feature store's experts.

    Args:
        store: feature store directory (or an open ``FeatureStore``): dataset/expert shapes and the
            expert heads come from it. ``train()`` fills it in.
        alpha: weight of the student supervised terms.
        beta: weight of the teacher supervised terms.
        gamma: weight of the KD terms (``JEDIDistillHook`` may schedule it per iteration).
        kd_reduction: how a KD term reduces over the pool batch: ``dataset_sum`` (a mean per dataset,
            summed over datasets: the paper's ``sum_j``) or ``pool_mean`` (one mean over the pool, which
            weighs gamma n times less); see :mod:`jedi_repro.models.losses`.
        kd_pool: which pool samples student i distils on: ``all`` (every dataset's, the paper's reading),
            ``own`` (its own dataset's) or ``others`` (the other datasets'); see
            :mod:`jedi_repro.models.kd_pool`.
        fusion: ``FUSIONS`` config (``concat`` | ``mean`` | ``attention`` | ``logits``).
        kd_loss: ``KD_LOSSES`` config (``ce`` | ``kl`` | ``mse``) with ``temperature``.
        adjustment: ``dict(enabled=True, hidden_dim=None)``; disabled: students are classifiers on the
            raw expert features.
        teacher_dropout: dropout before each teacher's linear layer.
        data_preprocessor: mmengine data preprocessor config (default moves tensors to the device).
        init_cfg: mmengine init config (unused; initialisation is fixed by the method).
    """

    def __init__(self, store=None, alpha: float = 1.0, beta: float = 1.0, gamma: float = 0.4,
                 kd_reduction: str = 'dataset_sum', kd_pool: str = 'all', fusion: dict | None = None,
                 kd_loss: dict | None = None,
                 adjustment: dict | None = None, teacher_dropout: float = 0.5, data_preprocessor=None,
                 init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if store is None:
            raise JediError('model.store is not set: pass --features (train() fills it in)')
        if not isinstance(store, FeatureStore):
            store = FeatureStore.open(store, check_values=False)
        fusion = dict(type='concat') if fusion is None else dict(fusion)
        kd_loss = dict(type='ce', temperature=2.0) if kd_loss is None else dict(kd_loss)
        adjustment = dict(enabled=True, hidden_dim=None) if adjustment is None else dict(adjustment)
        unknown = set(adjustment) - {'enabled', 'hidden_dim'}
        if unknown:
            raise JediError(f'model.adjustment: unknown key(s) {sorted(unknown)} '
                            '(known: enabled, hidden_dim)')
        weights = dict(alpha=alpha, beta=beta, gamma=gamma, teacher_dropout=teacher_dropout)
        for key, v in weights.items():
            if not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
                raise JediError(f'model.{key}={v!r} must be a finite number >= 0')
        if teacher_dropout >= 1:
            raise JediError(f'model.teacher_dropout={teacher_dropout} must be < 1')
        if kd_reduction not in KD_REDUCTIONS:
            raise JediError(f'model.kd_reduction={kd_reduction!r}; allowed: {KD_REDUCTIONS}')
        self.kd_reduction = kd_reduction
        check_kd_pool(kd_pool)
        self.kd_pool = kd_pool
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)
        self.dataset_names = list(store.dataset_names)
        self.expert_names = list(store.expert_names)
        ds_info = [store.dataset(d) for d in self.dataset_names]
        self.num_classes = [len(d['classes']) for d in ds_info]
        self.multilabel = [bool(d['multilabel']) for d in ds_info]
        self.use_map = [bool(d['multilabel']) or d['metric'] == 'mAP' for d in ds_info]
        dims = [store.expert(e)['dim'] for e in self.expert_names]
        own = {}
        for k, e in enumerate(self.expert_names):
            ds = store.expert(e)['dataset']
            if ds in own:
                raise JediError(f'feature store {store.path}: datasets need exactly one expert each, '
                                f'{ds!r} has {self.expert_names[own[ds]]!r} and {e!r}')
            own[ds] = k
        missing = [d for d in self.dataset_names if d not in own]
        if missing:
            raise JediError(f'feature store {store.path}: dataset(s) {missing} have no expert of their own')
        self.own_expert = [own[d] for d in self.dataset_names]

        # students: adjustment per expert + classifier initialised from the expert's own head
        if adjustment.get('enabled', True):
            self.adjust = nn.ModuleList(AdjustmentModule(d, adjustment.get('hidden_dim')) for d in dims)
        else:
            self.adjust = nn.ModuleList(nn.Identity() for _ in dims)
        self.students = nn.ModuleList()
        for i, k in enumerate(self.own_expert):
            w, b = store.head(self.expert_names[k])
            lin = nn.Linear(dims[k], self.num_classes[i])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.array(w, dtype=np.float32)))
                lin.bias.copy_(torch.from_numpy(np.array(b, dtype=np.float32)))
            self.students.append(lin)
            # the frozen expert head, for the expert baseline and the `logits` fusion
            self.register_buffer(f'expert_w{k}', torch.from_numpy(np.array(w, dtype=np.float32)))
            self.register_buffer(f'expert_b{k}', torch.from_numpy(np.array(b, dtype=np.float32)))
        # teachers: one shared fusion, then dropout + linear per dataset
        head_classes = [self.num_classes[self.dataset_names.index(store.expert(e)['dataset'])]
                        for e in self.expert_names]
        self.fusion = _build(FUSIONS, fusion, 'fusion', in_dims=dims, num_classes=head_classes)
        self.teachers = nn.ModuleList(
            nn.Sequential(nn.Dropout(float(teacher_dropout)), nn.Linear(self.fusion.out_dim, c))
            for c in self.num_classes)
        if hasattr(self.fusion, 'init_teacher'):  # a fusion may choose how its teachers start
            for i, teacher in enumerate(self.teachers):
                self.fusion.init_teacher(teacher[-1], self.own_expert[i])
        self.kd_loss = _build(KD_LOSSES, kd_loss, 'kd_loss')
        # switched by JEDIDistillHook; plain attributes, not state: a checkpoint is the same either way
        self.distill = False
        self.current_gamma = self.gamma
        self.last_stats: dict[str, torch.Tensor] = {}

    # ------------------------------------------------------------------ pieces
    def expert_logits(self, k: int, feat: torch.Tensor) -> torch.Tensor:
        """Logits of frozen expert k's own head on raw features."""
        return nn.functional.linear(feat, getattr(self, f'expert_w{k}'), getattr(self, f'expert_b{k}'))

    def fuse(self, adjusted, raw):
        elog = None
        if self.fusion.needs_expert_logits:
            elog = [self.expert_logits(k, f) for k, f in enumerate(raw)]
        return self.fusion(adjusted, elog)

    # ------------------------------------------------------------------ BaseModel API
    def forward(self, feats, labels=None, sup_sizes=None, pool_size: int = 0, pool_sizes=None, dataset=None,
                mode: str = 'tensor'):
        raw = [f.float() for f in feats]  # float16 on disk -> float32 per batch only
        if mode == 'loss':
            pool_sizes = None if pool_sizes is None else [int(s) for s in pool_sizes]
            return self._loss(raw, labels, [int(s) for s in sup_sizes], int(pool_size), pool_sizes)
        out = self._predict(raw, int(dataset))
        if mode == 'predict':
            out['labels'] = labels
            return [out]
        if mode == 'tensor':
            return out
        raise ValueError(f'unknown mode {mode!r}')

    def _predict(self, raw, i: int) -> dict:
        k = self.own_expert[i]
        adjusted = [a(f) for a, f in zip(self.adjust, raw)]
        return dict(dataset=self.dataset_names[i], multilabel=self.multilabel[i], use_map=self.use_map[i],
                    expert=self.expert_logits(k, raw[k]), student=self.students[i](adjusted[k]),
                    teacher=self.teachers[i](self.fuse(adjusted, raw)))

    def _loss(self, raw, labels, sup_sizes, pool_size, pool_sizes=None):
        n = len(self.dataset_names)
        starts = np.concatenate([[0], np.cumsum(sup_sizes)]).tolist()
        pool = slice(starts[-1], starts[-1] + pool_size)
        sup = [slice(starts[i], starts[i + 1]) for i in range(n)]
        if not self.distill:
            # baseline: each adjustment only on its own dataset's labelled rows, no teachers, no pool
            sup_student = [self.students[i](self.adjust[k](raw[k][sup[i]]))
                           for i, k in enumerate(self.own_expert)]
            return jedi_loss(sup_student, None, labels, None, None, names=self.dataset_names,
                             multilabel=self.multilabel, alpha=self.alpha, beta=self.beta, gamma=0.0,
                             kd_loss=self.kd_loss)
        adjusted = [a(f) for a, f in zip(self.adjust, raw)]
        fused = self.fuse(adjusted, raw)
        student = [self.students[i](adjusted[k]) for i, k in enumerate(self.own_expert)]
        teacher = [t(fused) for t in self.teachers]
        losses = jedi_loss([s[sup[i]] for i, s in enumerate(student)],
                           [t[sup[i]] for i, t in enumerate(teacher)], labels,
                           [s[pool] for s in student], [t[pool] for t in teacher],
                           names=self.dataset_names, multilabel=self.multilabel, alpha=self.alpha,
                           beta=self.beta, gamma=self.current_gamma, kd_loss=self.kd_loss,
                           pool_sizes=pool_sizes, kd_reduction=self.kd_reduction, kd_pool=self.kd_pool)
        with torch.no_grad():  # teacher/student top-1 agreement on the pool, logged by the hook
            self.last_stats = {
                f'agree_{name}': (student[i][pool].argmax(1) == teacher[i][pool].argmax(1)).float().mean()
                for i, name in enumerate(self.dataset_names) if pool_size > 0}
        return losses
