"""The KD-gain predictors the regime maps validate: arithmetic (hand-computed cases), the store check, the
probe indicators on a fully labelled store."""
import math

import numpy as np
import pytest

from jedi_repro.benchmarks import kd_predictors as D


def test_top1_headroom_and_probe_estimate():
    assert D.top1([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    assert math.isnan(D.top1([], []))
    with pytest.raises(ValueError, match='shape'):
        D.top1([0, 1], [0])
    assert D.headroom(0.8, 0.75) == pytest.approx(0.05)
    assert D.kd_estimate(0.82, 0.80) == pytest.approx(0.02)


def test_gain_set_transfer_counts_only_teacher_right_student_wrong():
    y = np.array([0, 1, 2, 0, 1, 2])
    s = np.array([0, 0, 0, 0, 1, 2])   # wrong on samples 1, 2
    t = np.array([0, 1, 2, 1, 1, 2])   # right on 1, 2 (and wrong on 3, where the student is right)
    p = np.array([0, 1, 0, 1, 1, 2])   # follows the teacher on 1, not on 2
    assert D.gain_set_transfer(y, s, t, p) == 0.5
    assert math.isnan(D.gain_set_transfer(y, y, y, y))


def test_pilot_gain_pairs_by_seed():
    est, n = D.pilot_gain({0: 0.80, 1: 0.70, 2: 0.5}, {0: 0.75, 1: 0.72})
    assert n == 2 and est == pytest.approx((0.05 - 0.02) / 2)  # seed 2 has no gamma=0 partner
    assert math.isnan(D.pilot_gain({0: 0.8}, {1: 0.8})[0])


def test_spearman_and_sign_agreement_on_known_cases():
    rho, p, n = D.spearman([1, 2, 3, 4, 5], [10, 20, 30, 40, 50])
    assert rho == pytest.approx(1.0) and n == 5 and p < 0.05
    rho, _, n = D.spearman([1, 2, 3, 4, float('nan')], [4, 3, 2, 1, 0])
    assert rho == pytest.approx(-1.0) and n == 4
    assert D.spearman([1, 2, 3, 4, 5], [1, 2, 3, 5, 4])[0] == pytest.approx(0.9)
    assert math.isnan(D.spearman([1, 2], [1, 2])[0])
    assert math.isnan(D.spearman([1, 1, 1], [1, 2, 3])[0])  # a constant estimate ranks nothing
    # points 0 and 1 have intervals excluding 0; the estimate gets 0 right, 1 wrong; 2 is not counted
    assert D.sign_agreement([0.02, 0.01, -0.5], [0.03, -0.02, 0.001], [0.01, 0.01, 0.01]) == (1, 2)


def test_the_store_check_names_what_cannot_be_assessed(tmp_path):
    from jedi_repro.data.toy import make_toy_store
    from jedi_repro.errors import JediError
    store = make_toy_store(tmp_path / 's', n_datasets=2, n_classes=3, dim=4, n_train=12, n_val=6, n_test=6,
                           multilabel=('ds1',))
    ok, skipped = D.check_store(store)
    assert ok == ['ds0'] and 'multi-label' in skipped['ds1']
    only_ml = make_toy_store(tmp_path / 'm', n_datasets=1, n_classes=3, dim=4, n_train=12, n_val=6,
                             n_test=6, multilabel=('ds0',))
    with pytest.raises(JediError, match='no dataset can be assessed: ds0: multi-label'):
        D.check_store(only_ml)


def test_probe_indicators_on_a_fully_labelled_store(tmp_path):
    """Every train sample labelled (the paper's regime): the probe fits on the whole pool."""
    from jedi_repro.data.toy import make_toy_store
    from jedi_repro.engine.train import train
    store = make_toy_store(tmp_path / 'store', n_datasets=2, n_classes=3, dim=8, n_train=40, n_val=12,
                           n_test=12, labeled_fraction=1.0)
    config = 'mm_configs/jedi/jedi_default.py'
    train(config, features=store.path, work_dir=tmp_path / 'run', seed=0,
          cfg_options={'model.gamma': 0.0, 'train_cfg.max_epochs': 2})
    res = D.probe_indicators(store.path, tmp_path / 'run')
    assert set(res) == {'ds0', 'ds1'}
    for r in res.values():
        assert r['headroom'] == pytest.approx(r['teacher_top1'] - r['student_top1'])
        assert r['kd_estimate'] == pytest.approx(r['probe_top1'] - r['student_top1'])
        assert 0 <= r['agreement'] <= 1


def test_jedi_diagnose_is_gone(capsys):
    """It did not predict the KD gain on either map (reports/regimes_overlap/README.md): removed."""
    from jedi_repro.cli import main
    with pytest.raises(SystemExit):
        main(['diagnose', 'x'])
    assert 'invalid choice' in capsys.readouterr().err
