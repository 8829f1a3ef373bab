import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper

from jedi_repro.data.multi_dataset import JEDIEvalBatches, JEDITrainBatches
from jedi_repro.data.toy import make_toy_store
from jedi_repro.errors import JediError
from jedi_repro.models import JEDIModel
from jedi_repro.registry import FUSIONS


@pytest.fixture
def store(tmp_path):
    return make_toy_store(tmp_path / 's', n_datasets=3, n_classes=[4, 5, 3], dim=[8, 12, 6], n_train=40,
                          n_val=20, n_test=None, multilabel=('ds1',), dtype='float16', seed=0)


def test_identity_start_students_equal_experts(store):
    torch.manual_seed(0)
    model = JEDIModel(store, adjustment=dict(enabled=True, hidden_dim=16)).eval()
    ev = JEDIEvalBatches(store, split='val')
    for j in range(len(ev)):
        out = model(**ev[j], mode='predict')[0]
        i = ev[j]['dataset']
        feats = np.asarray(store.features(f'e{i}', f'ds{i}', 'val'), dtype=np.float32)
        w, b = store.head(f'e{i}')
        hand = torch.from_numpy(feats @ np.asarray(w).T + np.asarray(b))
        assert torch.equal(out['student'], out['expert'])  # exactly, not approximately
        assert torch.allclose(out['expert'], hand, atol=1e-5)


def test_logits_fusion_teachers_start_as_experts(store):
    """With late fusion a teacher starts as its own expert (random starts left it far below)."""
    model = JEDIModel(store, fusion=dict(type='logits')).eval()
    ev = JEDIEvalBatches(store, split='val')
    for j in range(len(ev)):
        out = model(**ev[j], mode='predict')[0]
        assert torch.allclose(out['teacher'], out['expert'], atol=1e-6)


def _batch(store, **kw):
    return JEDITrainBatches(store, labeled_batch_size=6, unlabeled_batch_size=10, seed=0, **kw)[(0, 0)]


def _grads(model, losses, keys):
    model.zero_grad()
    sum(losses[k] for k in keys).backward()
    return {n: (p.grad.clone() if p.grad is not None else None) for n, p in model.named_parameters()}


def test_gamma_zero_kd_contributes_no_gradient(store):
    batch = _batch(store)
    torch.manual_seed(0)
    model = JEDIModel(store, gamma=0.0)
    model.distill = True
    model.current_gamma = 0.0
    model.eval()  # no dropout, so both forwards agree
    losses = model(**batch, mode='loss')
    kd_keys = [k for k in losses if k.startswith('loss_kd_')]
    assert len(kd_keys) == 3 and all(losses[k].item() == 0 for k in kd_keys)
    all_g = _grads(model, model(**batch, mode='loss'), list(losses))
    sup_g = _grads(model, model(**batch, mode='loss'), [k for k in losses if k not in kd_keys])
    for n in all_g:
        assert (all_g[n] is None) == (sup_g[n] is None)
        if all_g[n] is not None:
            assert torch.equal(all_g[n], sup_g[n]), n
    # and with gamma > 0 the KD terms do move the students (the check above can fail)
    model.current_gamma = 0.4
    l2 = model(**batch, mode='loss')
    g_kd = _grads(model, l2, kd_keys)
    assert any(g is not None and g.abs().sum() > 0 for n, g in g_kd.items() if n.startswith('students'))
    assert all(g is None or g.abs().sum() == 0 for n, g in g_kd.items() if n.startswith('teachers'))


def test_without_hook_teachers_get_no_gradient_and_equal_plain_finetuning(store):
    torch.manual_seed(0)
    model = JEDIModel(store)  # distill stays off: what a config without JEDIDistillHook trains
    teachers0 = copy.deepcopy(model.teachers.state_dict())
    fusion0 = copy.deepcopy(model.fusion.state_dict())
    # hand-written plain fine-tuning: expert features -> residual MLP -> classifier, CE/BCE on labels
    ref_adj = copy.deepcopy(model.adjust)
    ref_cls = copy.deepcopy(model.students)
    ref_params = list(ref_adj.parameters()) + list(ref_cls.parameters())
    ref_opt = torch.optim.AdamW(ref_params, lr=1e-2, weight_decay=1e-4)
    wrapper = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-4))
    data = JEDITrainBatches(store, labeled_batch_size=6, unlabeled_batch_size=10, seed=0)
    for it in range(len(data)):
        batch = data[(0, it)]
        model.train_step(batch, wrapper)
        # reference step on the same batch
        start = 0
        loss = 0
        for i, n in enumerate(batch['sup_sizes']):
            x = batch['feats'][i][start:start + n].float()
            logits = ref_cls[i](ref_adj[i](x))
            y = batch['labels'][i]
            loss = loss + (F.binary_cross_entropy_with_logits(logits, y, reduction='none').sum(1).mean()
                           if i == 1 else F.cross_entropy(logits, y))
            start += n
        ref_opt.zero_grad()
        loss.backward()
        ref_opt.step()
    for p in list(model.teachers.parameters()) + list(model.fusion.parameters()):
        assert p.grad is None
    for k, v in model.teachers.state_dict().items():
        assert torch.equal(v, teachers0[k])
    for k, v in model.fusion.state_dict().items():
        assert torch.equal(v, fusion0[k])
    for a, b in zip(list(model.adjust.parameters()) + list(model.students.parameters()), ref_params):
        assert torch.allclose(a, b, atol=1e-6)
    assert any(not torch.equal(a, b) for a, b in zip(model.students.parameters(),
                                                      copy.deepcopy(JEDIModel(store).students).parameters()))


@pytest.mark.parametrize('fusion', ['concat', 'mean', 'attention', 'logits'])
def test_fusions_train_step_and_shapes(store, fusion):
    torch.manual_seed(0)
    model = JEDIModel(store, fusion=dict(type=fusion))
    model.distill = True
    expected = {'concat': 26, 'mean': 6, 'attention': 6, 'logits': 12}[fusion]
    assert model.fusion.out_dim == expected
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = copy.deepcopy(model.teachers.state_dict())
    log = model.train_step(_batch(store), wrapper)
    assert len([k for k in log if k.startswith('loss_')]) == 9
    assert all(np.isfinite(float(v)) for v in log.values())
    assert any(not torch.equal(v, before[k]) for k, v in model.teachers.state_dict().items())
    out = model.eval()(**JEDIEvalBatches(store)[0], mode='predict')[0]
    assert out['teacher'].shape == out['student'].shape == (20, 4)


def test_attention_weights_are_a_distribution():
    f = FUSIONS.build(dict(type='attention', in_dims=[3, 5], num_classes=[2, 2], proj_dim=4))
    out = f([torch.randn(7, 3), torch.randn(7, 5)])
    assert out.shape == (7, 4)
    assert torch.allclose(f.last_weights.sum(1), torch.ones(7)) and (f.last_weights >= 0).all()


def test_no_adjustment_means_linear_students(store):
    model = JEDIModel(store, adjustment=dict(enabled=False))
    assert sum(p.numel() for p in model.adjust.parameters()) == 0


@pytest.mark.parametrize('kw, match', [
    (dict(fusion=dict(type='sum')), "model.fusion.type='sum' is unknown"),
    (dict(kd_loss=dict(type='ce', temprature=2)), 'model.kd_loss'),
    (dict(adjustment=dict(enabled=True, width=3)), "unknown key\\(s\\) \\['width'\\]"),
    (dict(gamma=float('nan')), 'model.gamma'),
    (dict(teacher_dropout=1.0), 'teacher_dropout'),
])
def test_bad_model_config(store, kw, match):
    with pytest.raises(JediError, match=match):
        JEDIModel(store, **kw)


def test_store_needs_one_expert_per_dataset(tmp_path):
    from jedi_repro.data.feature_store import FeatureStoreWriter
    with FeatureStoreWriter(tmp_path / 's') as w:
        w.add_dataset('a', ['x', 'y'])
        w.add_dataset('b', ['x', 'y'])
        for e in ('e1', 'e2'):
            w.add_expert(e, dataset='a', dim=2, head_weight=np.zeros((2, 2)), head_bias=np.zeros(2))
        for ds in 'ab':
            for s in ('train', 'val'):
                w.add_labels(ds, s, [0, 1])
                for e in ('e1', 'e2'):
                    w.add_features(e, ds, s, np.zeros((2, 2), np.float32))
    with pytest.raises(JediError, match="exactly one expert each, 'a' has"):
        JEDIModel(str(tmp_path / 's'))
