"""The JEDI loss against a hand-written reference of the formula (numpy, float64, independent code)."""
import numpy as np
import pytest
import torch

from jedi_repro.models.kd_losses import (
    KDMSE,
    KDCrossEntropy,
    KDKLDivergence,
    kd_cross_entropy,
    kd_kl_divergence,
)
from jedi_repro.models.losses import jedi_loss


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def ref_sup(logits, y, multilabel):
    if multilabel:  # sum over classes of BCE, mean over samples
        p = _sigmoid(logits)
        return np.mean(np.sum(-(y * np.log(p) + (1 - y) * np.log(1 - p)), axis=1))
    return np.mean(-_log_softmax(logits)[np.arange(len(y)), y])


def ref_kd(s, t, tau, kind, multilabel):
    if kind == 'mse':
        return np.mean((s - t) ** 2)
    if multilabel:
        pt, ps = _sigmoid(t / tau), _sigmoid(s / tau)
        if kind == 'ce':
            per = -(pt * np.log(ps) + (1 - pt) * np.log(1 - ps))
        else:
            per = pt * np.log(pt / ps) + (1 - pt) * np.log((1 - pt) / (1 - ps))
        return tau ** 2 * np.mean(per.sum(axis=1))
    lt, ls = _log_softmax(t / tau), _log_softmax(s / tau)
    pt = np.exp(lt)
    per = -(pt * ls).sum(axis=1) if kind == 'ce' else (pt * (lt - ls)).sum(axis=1)
    return tau ** 2 * np.mean(per)


@pytest.mark.parametrize('kind', ['ce', 'kl', 'mse'])
def test_jedi_loss_matches_reference(kind):
    rng = np.random.default_rng(0)
    classes, multilabel = [4, 3, 6], [False, True, False]
    alpha, beta, gamma, tau = 0.7, 1.3, 0.4, 2.5
    b_lab, b_pool = [5, 7, 3], 9
    ss, st, ys, ks, kt = [], [], [], [], []
    for c, ml, b in zip(classes, multilabel, b_lab):
        ss.append(rng.standard_normal((b, c)) * 2)
        st.append(rng.standard_normal((b, c)) * 2)
        ys.append((rng.random((b, c)) < 0.4).astype(np.float64) if ml else rng.integers(0, c, b))
        ks.append(rng.standard_normal((b_pool, c)) * 2)
        kt.append(rng.standard_normal((b_pool, c)) * 2)
    kd = {'ce': KDCrossEntropy, 'kl': KDKLDivergence, 'mse': KDMSE}[kind](temperature=tau)
    T = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    out = jedi_loss([T(a) for a in ss], [T(a) for a in st],
                    [torch.tensor(y) if not ml else T(y) for y, ml in zip(ys, multilabel)],
                    [T(a) for a in ks], [T(a) for a in kt], names=['a', 'b', 'c'], multilabel=multilabel,
                    alpha=alpha, beta=beta, gamma=gamma, kd_loss=kd)
    assert len(out) == 9
    total_ref = 0.0
    for i, n in enumerate('abc'):
        ref = {f'loss_student_{n}': alpha * ref_sup(ss[i], ys[i], multilabel[i]),
               f'loss_teacher_{n}': beta * ref_sup(st[i], ys[i], multilabel[i]),
               f'loss_kd_{n}': gamma * ref_kd(ks[i], kt[i], tau, kind, multilabel[i])}
        for k, v in ref.items():
            assert abs(out[k].item() - v) < 1e-6, (k, out[k].item(), v)
            total_ref += v
    assert abs(sum(v.item() for v in out.values()) - total_ref) < 1e-6


def test_kd_detaches_teacher_and_ce_kl_same_gradient():
    torch.manual_seed(0)
    s = torch.randn(6, 5, requires_grad=True)
    t = torch.randn(6, 5, requires_grad=True)
    g_ce = torch.autograd.grad(kd_cross_entropy(s, t, 3.0), s)[0]
    g_kl = torch.autograd.grad(kd_kl_divergence(s, t, 3.0), s)[0]
    assert torch.allclose(g_ce, g_kl, atol=1e-6) and g_ce.abs().sum() > 0
    kd_cross_entropy(s, t, 3.0).backward()
    assert t.grad is None  # the teacher target is detached


def test_gamma_zero_and_no_teacher_give_constant_zero_terms():
    s = [torch.randn(4, 3, requires_grad=True)]
    y = [torch.tensor([0, 1, 2, 0])]
    out = jedi_loss(s, None, y, None, None, names=['a'], multilabel=[False], alpha=1, beta=1, gamma=0.4,
                    kd_loss=None)
    assert out['loss_teacher_a'].item() == 0 and not out['loss_teacher_a'].requires_grad
    assert out['loss_kd_a'].item() == 0 and not out['loss_kd_a'].requires_grad


def test_kd_reduction_dataset_sum_is_a_mean_per_dataset_summed():
    """dataset_sum = sum over the pool's dataset groups of the group mean; pool_mean = one mean."""
    rng = np.random.default_rng(1)
    sizes = [3, 0, 5]  # the pool block grouped by dataset; dataset 1 not pooled in this batch
    s, t = rng.standard_normal((8, 4)), rng.standard_normal((8, 4))
    kd = KDCrossEntropy(temperature=2.0)
    T = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    common = dict(names=['a'], multilabel=[False], alpha=1.0, beta=1.0, gamma=0.4, kd_loss=kd)
    y = [torch.tensor([0])]
    summed = jedi_loss([T(s[:1])], [T(t[:1])], y, [T(s)], [T(t)], pool_sizes=sizes,
                       kd_reduction='dataset_sum', **common)['loss_kd_a'].item()
    mean = jedi_loss([T(s[:1])], [T(t[:1])], y, [T(s)], [T(t)], pool_sizes=sizes,
                     kd_reduction='pool_mean', **common)['loss_kd_a'].item()
    ref_sum = 0.4 * (ref_kd(s[:3], t[:3], 2.0, 'ce', False) + ref_kd(s[3:], t[3:], 2.0, 'ce', False))
    assert abs(summed - ref_sum) < 1e-9
    assert abs(mean - 0.4 * ref_kd(s, t, 2.0, 'ce', False)) < 1e-9
    # with equal groups, the sum over n groups is n times the pool mean: the same gamma weighs n x more
    eq = jedi_loss([T(s[:1])], [T(t[:1])], y, [T(s[:6])], [T(t[:6])], pool_sizes=[2, 2, 2],
                   kd_reduction='dataset_sum', **common)['loss_kd_a'].item()
    eq_mean = jedi_loss([T(s[:1])], [T(t[:1])], y, [T(s[:6])], [T(t[:6])], pool_sizes=[2, 2, 2],
                        kd_reduction='pool_mean', **common)['loss_kd_a'].item()
    assert eq != pytest.approx(eq_mean) and eq == pytest.approx(
        0.4 * sum(ref_kd(s[i:i + 2], t[i:i + 2], 2.0, 'ce', False) for i in (0, 2, 4)))
    with pytest.raises(ValueError, match='kd reduction'):
        jedi_loss([T(s[:1])], [T(t[:1])], y, [T(s)], [T(t)], pool_sizes=sizes, kd_reduction='sum', **common)
