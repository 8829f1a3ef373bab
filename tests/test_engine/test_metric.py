import numpy as np
import pytest
import torch

from jedi_repro.engine.metrics import JEDIMetric, average_precision, classification_metrics


def test_single_label_metrics_by_hand():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1], [0.1, 0.2, 0.7]])
    labels = np.array([0, 1, 1, 0])
    m = classification_metrics(scores, labels)
    assert m['top1'] == pytest.approx(0.5)
    assert m['top5'] == 1.0  # k = min(5, C) = 3
    assert m['mean_class'] == pytest.approx((0.5 + 0.5) / 2)
    assert 'mAP' not in m
    m = classification_metrics(scores, labels, with_map=True)
    # class 0: scores .9 (pos) .5 .2 .1 (pos) -> AP = (1/1 + 2/4)/2; class 1: .7 (pos) .4 (pos) -> AP = 1
    assert m['mAP'] == pytest.approx(((1 + 0.5) / 2 + 1.0) / 2)


def test_multilabel_metrics_by_hand():
    scores = np.array([[0.9, 0.8, 0.1], [0.1, 0.2, 0.9], [0.3, 0.6, 0.5]])
    y = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 1]], dtype=np.uint8)
    m = classification_metrics(scores, y, multilabel=True)
    assert m['top1'] == pytest.approx(1 / 3)  # hit@1: only sample 1
    assert m['top5'] == 1.0
    assert m['mean_class'] == pytest.approx(np.mean([0.0, 0.0, 0.5]))
    ap0 = average_precision(scores[:, 0], y[:, 0])  # positive ranked 2nd -> 1/2
    assert ap0 == pytest.approx(0.5)
    assert m['mAP'] == pytest.approx(np.mean([0.5, 1.0, 1.0]))  # classes 1, 2: positives ranked first


def test_metric_keys_and_means():
    metric = JEDIMetric()
    rng = np.random.default_rng(0)
    for ds, c, ml in (('a', 4, False), ('b', 3, True), ('a', 4, False)):
        labels = (rng.random((6, c)) < 0.5).astype(np.uint8) if ml else rng.integers(0, c, 6)
        out = dict(dataset=ds, multilabel=ml, use_map=ml, labels=torch.from_numpy(labels),
                   **{r: torch.randn(6, c) for r in ('expert', 'student', 'teacher')})
        metric.process({}, [out])
    res = metric.compute_metrics(metric.results)
    assert set(res) >= {'a/student/top1', 'b/teacher/mAP', 'mean/expert/top5', 'mean/student/mAP'}
    assert 'a/student/mAP' not in res
    assert res['mean/student/top1'] == pytest.approx((res['a/student/top1'] + res['b/student/top1']) / 2)
    assert res['mean/student/mAP'] == res['b/student/mAP']
    assert all(0 <= v <= 1 for v in res.values())
