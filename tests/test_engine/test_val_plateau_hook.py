"""ValPlateauHook: plateau judgement (pure) and early stopping inside a real mmengine Runner."""
from pathlib import Path

import pytest

from jedi_repro.data.toy import make_toy_store
from jedi_repro.engine.hooks.val_plateau_hook import ValPlateauHook, plateau_summary
from jedi_repro.engine.train import role_keys, train
from jedi_repro.errors import JediError

DEFAULT = str(Path(__file__).resolve().parents[2] / 'mm_configs' / 'jedi' / 'jedi_default.py')


def _hist(*rows):
    return [(e, {'s': s, 't': t}) for e, (s, t) in enumerate(rows, start=1)]


def test_plateau_needs_every_monitor_to_stall_for_patience_epochs():
    h = _hist((0.5, 0.1), (0.6, 0.2), (0.6, 0.3), (0.55, 0.4), (0.6, 0.4), (0.6, 0.4))
    s = plateau_summary(h, ['s', 't'], patience=2)
    assert s['monitors']['s'] == dict(best_epoch=2, best=0.6, last_epoch=6)  # ties keep the first epoch
    assert s['monitors']['t']['best_epoch'] == 4 and s['converged']
    assert not plateau_summary(h[:5], ['s', 't'], patience=2)['converged']  # teacher improved at 4
    assert not plateau_summary(h, ['s', 't'], patience=3)['converged']
    # min_delta: gains of at most min_delta do not count
    assert plateau_summary(_hist((0.5, 0), (0.505, 0), (0.509, 0)), ['s'], 2, 0.01)['monitors']['s'][
        'best_epoch'] == 1
    assert not plateau_summary([], ['s'], 1)['converged']


def test_role_keys_pick_each_roles_own_checkpoint():
    assert role_keys(['mean/student/top1', 'mean/teacher/top1']) == {
        'expert': 'mean/student/top1', 'student': 'mean/student/top1', 'teacher': 'mean/teacher/top1'}
    one = role_keys(['mean/student/mean_class'])  # a single key: one checkpoint for every role
    assert set(one.values()) == {'mean/student/mean_class'}


@pytest.mark.parametrize('kw, match', [(dict(patience=0), 'patience'), (dict(monitors=[]), 'monitor'),
                                       (dict(min_delta=-1), 'min_delta')])
def test_bad_arguments(kw, match):
    with pytest.raises(JediError, match=match):
        ValPlateauHook(**kw)


@pytest.mark.integration
def test_train_stops_at_plateau_and_tests_each_role_at_its_best_epoch(tmp_path):
    # a store the students cannot improve on (experts' heads exact, own signal only): students plateau at
    # once, teachers keep learning from the other experts' views for a while
    store = make_toy_store(tmp_path / 's', n_datasets=2, n_classes=4, dim=8, n_train=80, n_val=40,
                           n_test=40, head_noise=0.0, seed=0)
    m = train(DEFAULT, features=store.path, work_dir=tmp_path / 'wd', seed=0, cfg_options={
        'train_cfg.max_epochs': 60, 'default_hooks.plateau.patience': 3,
        'default_hooks.logger.interval': 1000})
    conv, sel = m['convergence'], m['selection']
    assert conv['converged'] and conv['stopped_early'] and conv['last_epoch'] < 60
    for role in ('student', 'teacher'):
        best = conv['monitors'][f'mean/{role}/primary']
        assert sel[role]['epoch'] == best['best_epoch'] and conv['last_epoch'] - best['best_epoch'] >= 3
        # the val block holds the validation metrics of the checkpoint each role was tested at
        assert m['val']['mean'][role]['primary'] == pytest.approx(best['best'])
    assert sel['expert'] == sel['student']
    assert set(m['val']['datasets']) == {'ds0', 'ds1'} and 'top5' in m['val']['datasets']['ds0']['teacher']


@pytest.mark.integration
def test_a_cap_reached_while_improving_is_not_converged(tmp_path):
    store = make_toy_store(tmp_path / 's', n_datasets=2, n_classes=4, dim=8, n_train=80, n_val=40,
                           n_test=40, seed=0)
    m = train(DEFAULT, features=store.path, work_dir=tmp_path / 'wd', seed=0, cfg_options={
        'train_cfg.max_epochs': 2, 'default_hooks.logger.interval': 1000})
    assert m['convergence']['last_epoch'] == 2 and not m['convergence']['converged']
    assert not m['convergence']['stopped_early']
