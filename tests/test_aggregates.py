"""The one definition of every aggregate (jedi_repro/aggregates.py)."""
import math

import pytest

from jedi_repro import aggregates


def test_primary_metric_is_what_the_dataset_declares():
    assert aggregates.primary_metric('top1') == 'top1'
    assert aggregates.primary_metric('mAP') == 'mAP'
    assert aggregates.primary_metric('top1', multilabel=True) == 'mAP'
    assert aggregates.primary_metric(None) == 'top1'


def test_primary_mean_takes_each_datasets_primary_metric():
    per = {'ucf': {'top1': 0.8, 'mAP': 0.1}, 'anet': {'top1': 0.5, 'mAP': 0.7}}
    assert aggregates.primary_mean(per, {'ucf': 'top1', 'anet': 'mAP'}) == pytest.approx(0.75)
    with pytest.raises(KeyError):
        aggregates.primary_mean({'ucf': {'top1': 0.8}}, {'ucf': 'mAP'})


def test_mean_does_not_depend_on_order():
    vals = [0.1, 0.2, 0.3, 1e-17, 0.7]
    assert aggregates.mean(vals) == aggregates.mean(reversed(vals)) == math.fsum(vals) / 5
    assert math.isnan(aggregates.mean([]))


def test_describe_names_the_metric_and_split():
    m = {'ucf': 'top1', 'anet_like': 'mAP'}
    assert aggregates.describe('mean/student/primary', m, 'val') == \
        "students' mean of each dataset's primary metric (top-1; mAP for anet_like), validation"
    assert aggregates.describe('test/mean/teacher/top1') == "teachers' mean over datasets of top1, test"
    assert aggregates.describe('objective 0') == 'objective 0'


def test_best_index_ties_go_to_the_first():
    assert aggregates.best_index([0.5, 0.7, 0.7]) == 1
    assert aggregates.best_index([0.5, 0.7, 0.2], 'minimize') == 2
    assert aggregates.best_index([float('nan'), None]) is None
