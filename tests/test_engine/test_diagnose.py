"""`jedi diagnose`: the arithmetic (hand-computed cases), the check before training, and a tiny pilot."""
import json
import math

import numpy as np
import pytest

from jedi_repro.engine import diagnose as D


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


def test_pilot_gain_pairs_by_seed_and_verdicts():
    est, n = D.pilot_gain({0: 0.80, 1: 0.70, 2: 0.5}, {0: 0.75, 1: 0.72})
    assert n == 2 and est == pytest.approx((0.05 - 0.02) / 2)  # seed 2 has no gamma=0 partner
    assert math.isnan(D.pilot_gain({0: 0.8}, {1: 0.8})[0])
    assert D.verdict(0.01).startswith('distillation helped')
    assert D.verdict(-0.01).startswith('distillation hurt')
    assert D.verdict(0.001).startswith('no clear effect')
    assert D.verdict(float('nan')) == 'not estimated'


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


def test_the_store_is_checked_before_any_training(tmp_path, monkeypatch):
    """Multi-label datasets are skipped and named; a store with nothing to assess is refused at once."""
    from jedi_repro.data.toy import make_toy_store
    from jedi_repro.engine import train as T
    from jedi_repro.errors import JediError
    store = make_toy_store(tmp_path / 's', n_datasets=2, n_classes=3, dim=4, n_train=12, n_val=6, n_test=6,
                           multilabel=('ds1',))
    ok, skipped = D.check_store(store)
    assert ok == ['ds0'] and 'multi-label' in skipped['ds1']
    only_ml = make_toy_store(tmp_path / 'm', n_datasets=1, n_classes=3, dim=4, n_train=12, n_val=6,
                             n_test=6, multilabel=('ds0',))
    monkeypatch.setattr(T, 'train', lambda *a, **k: pytest.fail('trained before checking the store'))
    with pytest.raises(JediError, match='no dataset can be assessed: ds0: multi-label'):
        D.pilot(only_ml.path, work_dir=tmp_path / 'w', log=lambda m: None)


def test_the_pilot_answers_on_a_fully_labelled_store_and_states_its_power(tmp_path, capsys):
    """Every train sample labelled (the paper's regime): the pilot runs, reuses its runs, and the screen
    says how well it predicted on the regime maps."""
    from jedi_repro.cli import main
    from jedi_repro.data.toy import make_toy_store
    make_toy_store(tmp_path / 'store', n_datasets=2, n_classes=3, dim=8, n_train=40, n_val=12, n_test=12,
                   multilabel=('ds1',), labeled_fraction=1.0)
    argv = ['diagnose', str(tmp_path / 'store'), '--work-dir', str(tmp_path / 'pilot'), '--seeds', '0',
            '--cfg-options', 'train_cfg.max_epochs=2', '--json', str(tmp_path / 'd.json')]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert 'JEDI - gamma=0' in out and 'ds1' in out and 'not assessed: multi-label' in out
    assert 'Predictive power' in out
    res = json.loads((tmp_path / 'd.json').read_text())
    r = res['datasets']['ds0']
    assert set(res['datasets']) == {'ds0'} and r['n_seeds'] == 1 and res['reused_runs'] == 0
    assert r['estimate'] == pytest.approx(r['jedi_val'] - r['gamma0_val'])
    assert main(argv) == 0  # the second call reuses both runs
    again = json.loads((tmp_path / 'd.json').read_text())
    assert again['reused_runs'] == 2 and again['datasets'] == res['datasets']


def test_the_screen_states_the_committed_validation():
    v = {'file': 'x.json', 'command': 'jedi bench regimes', 'maps': ['overlap'], 'scope': 'On 12 cells.',
         'pilot': {'rho': 0.3, 'p': 0.2, 'n': 40, 'sign_right': 3, 'sign_of': 4}}
    line = D.validation_line(v)
    assert 'Spearman rho 0.30' in line and '40 cell x dataset points' in line and '3 of 4' in line
    assert 'weak predictor' in line and 'On 12 cells.' in line
    assert 'not validated' in D.validation_line(None)


def test_a_bad_seed_list_is_refused(tmp_path, capsys):
    from jedi_repro.cli import main
    rc = main(['diagnose', str(tmp_path), '--seeds', '0,x'])
    err = capsys.readouterr().err
    assert rc == 1 and '--seeds' in err and 'Traceback' not in err
