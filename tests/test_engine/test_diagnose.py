"""`jedi diagnose`: the arithmetic (hand-computed cases) and one short run on a toy store."""
import json
import math

import numpy as np
import pytest

from jedi_repro.engine import diagnose as D


def test_top1_headroom_and_estimate():
    assert D.top1([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    assert math.isnan(D.top1([], []))
    with pytest.raises(ValueError, match='shape'):
        D.top1([0, 1], [0])
    assert D.headroom(0.8, 0.75) == pytest.approx(0.05)
    assert D.headroom(0.7, 0.75) == pytest.approx(-0.05)
    assert D.kd_estimate(0.82, 0.80) == pytest.approx(0.02)


def test_gain_set_transfer_counts_only_teacher_right_student_wrong():
    y = np.array([0, 1, 2, 0, 1, 2])
    s = np.array([0, 0, 0, 0, 1, 2])   # wrong on samples 1, 2
    t = np.array([0, 1, 2, 1, 1, 2])   # right on 1, 2 (and wrong on 3, where the student is right)
    p = np.array([0, 1, 0, 1, 1, 2])   # follows the teacher on 1, not on 2
    assert D.gain_set_transfer(y, s, t, p) == 0.5
    assert math.isnan(D.gain_set_transfer(y, y, y, y))  # the student is never wrong: nothing to gain


def test_verdicts():
    assert D.verdict(0.0, 0.05).startswith('unlikely: the teacher is not better')
    assert D.verdict(0.05, 0.001).startswith('unlikely: the teacher is better, but')
    assert D.verdict(0.05, 0.02).startswith('possible')


def test_spearman_on_known_ranks():
    rho, p, n = D.spearman([1, 2, 3, 4, 5], [10, 20, 30, 40, 50])
    assert rho == pytest.approx(1.0) and n == 5 and p < 0.05
    rho, _, n = D.spearman([1, 2, 3, 4, float('nan')], [4, 3, 2, 1, 0])
    assert rho == pytest.approx(-1.0) and n == 4  # the NaN pair is dropped
    # one swap in five: rho = 1 - 6 * 2 / (5 * 24) = 0.9
    assert D.spearman([1, 2, 3, 4, 5], [1, 2, 3, 5, 4])[0] == pytest.approx(0.9)
    assert math.isnan(D.spearman([1, 2], [1, 2])[0])


def test_diagnose_runs_on_a_toy_store_and_reuses_its_short_run(tmp_path, capsys):
    from jedi_repro.cli import main
    from jedi_repro.data.toy import make_toy_store
    make_toy_store(tmp_path / 'store', n_datasets=2, n_classes=3, dim=8, n_train=60, n_val=20, n_test=20,
                   labeled_fraction=0.3)
    wd = tmp_path / 'short'
    rc = main(['diagnose', str(tmp_path / 'store'), '--work-dir', str(wd),
               '--json', str(tmp_path / 'd.json')])
    out = capsys.readouterr().out
    assert rc == 0 and 'headroom' in out and 'KD estimate' in out
    res = json.loads((tmp_path / 'd.json').read_text())
    assert set(res['datasets']) == {'ds0', 'ds1'} and not res['reused_run']
    for r in res['datasets'].values():
        assert r['headroom'] == pytest.approx(r['teacher_top1'] - r['student_top1'])
        assert r['kd_estimate'] == pytest.approx(r['probe_top1'] - r['student_top1'])
        assert 0 <= r['agreement'] <= 1 and r['n_unlabeled'] > 0
    again = D.diagnose(tmp_path / 'store', work_dir=wd, log=lambda m: None)
    assert again['reused_run'] and again['datasets'] == res['datasets']


def test_a_store_without_unlabelled_samples_is_refused(tmp_path, capsys):
    from jedi_repro.cli import main
    from jedi_repro.data.toy import make_toy_store
    make_toy_store(tmp_path / 'store', n_datasets=2, n_classes=3, dim=8, n_train=30, n_val=10, n_test=10)
    rc = main(['diagnose', str(tmp_path / 'store'), '--work-dir', str(tmp_path / 'short')])
    err = capsys.readouterr().err
    assert rc == 1 and 'no unlabelled train samples' in err and 'Traceback' not in err
