"""Per-epoch curves: step histories of a few keys, not every metric of every role and dataset."""
from jedi_repro.tracking.hook import curve_keys


def test_curves_keep_each_datasets_primary_metric_and_the_means():
    m = {f'{d}/{r}/{k}': 0.5 for d in ('ucf', 'anet') for r in ('expert', 'student') for k in
         ('top1', 'top5', 'mean_class')}
    m.update({f'anet/{r}/mAP': 0.4 for r in ('expert', 'student')})
    m.update({f'mean/{r}/{k}': 0.5 for r in ('expert', 'student')
              for k in ('top1', 'top5', 'primary', 'mAP')})
    assert curve_keys(m) == {'ucf/expert/top1', 'ucf/student/top1', 'anet/expert/mAP', 'anet/student/mAP',
                             'mean/expert/primary', 'mean/student/primary', 'mean/expert/top1',
                             'mean/student/top1'}


def test_other_runs_keep_every_key():
    assert curve_keys({'acc/top1': 0.5, 'acc/top5': 0.9}) == {'acc/top1', 'acc/top5'}
