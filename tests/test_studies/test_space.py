import optuna
import pytest

from jedi_repro.errors import JediError
from jedi_repro.studies.space import decode, grid_key, grid_points, parse_space, suggest


def test_distributions_and_grid():
    space = parse_space({'model.gamma': [0.0, 0.4],
                         'train_cfg.max_epochs': {'type': 'int', 'low': 2, 'high': 6, 'step': 2},
                         'model.teacher_dropout': {'type': 'float', 'low': 0.0, 'high': 0.5, 'step': 0.25},
                         'optim_wrapper.optimizer.lr': {'type': 'log', 'low': 1e-4, 'high': 1e-2}}, 'w')
    assert space['optim_wrapper.optimizer.lr'].distribution().log
    assert not space['optim_wrapper.optimizer.lr'].is_discrete
    assert space['train_cfg.max_epochs'].grid_values() == [2, 4, 6]
    assert space['model.teacher_dropout'].grid_values() == [0.0, 0.25, 0.5]
    del space['optim_wrapper.optimizer.lr']
    points = grid_points(space)
    assert len(points) == 2 * 3 * 3
    assert len({grid_key(p) for p in points}) == len(points)


def test_list_choices_roundtrip_through_optuna():
    space = parse_space({'data.unlabeled_datasets': {'type': 'choices', 'values': [['a', 'b'], ['a']]}}, 'w')
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    cfg = suggest(trial, space)
    assert cfg['data.unlabeled_datasets'] in (['a', 'b'], ['a'])
    assert decode(space, trial.params) == cfg


def test_suggest_uses_enqueued_point():
    space = parse_space({'model.gamma': [0.0, 0.4], 'model.kd_loss.type': ['ce', 'kl']}, 'w')
    study = optuna.create_study()
    study.enqueue_trial({'model.gamma': 0.4, 'model.kd_loss.type': 'kl'})
    assert suggest(study.ask(), space) == {'model.gamma': 0.4, 'model.kd_loss.type': 'kl'}


@pytest.mark.parametrize('entry,msg', [
    ({'type': 'float', 'low': 1.0, 'high': 0.5}, 'below'),
    ({'type': 'int', 'low': 0.5, 'high': 3}, 'integer'),
    ({'type': 'float', 'low': 0, 'high': 1, 'stp': 0.1}, 'stp'),
    ({'type': 'grid', 'values': []}, 'non-empty'),
    ({'type': 'float', 'low': 'a', 'high': 1}, 'low'),
])
def test_bad_entries_name_the_key(entry, msg):
    with pytest.raises(JediError, match=msg) as err:
        parse_space({'model.alpha': entry}, 'spec x')
    assert 'space.model.alpha' in str(err.value)
