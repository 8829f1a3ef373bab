from pathlib import Path

import pytest

from jedi_repro.errors import JediError
from jedi_repro.studies.spec import SpecError, load_spec

REPO = Path(__file__).resolve().parents[2]
GOOD = """
name: demo
base_config: {base}
features: ${{JEDI_HOME}}/features/demo
seeds: [0, 1]
space:
  model.gamma: {{type: grid, values: [0.0, 0.4]}}
sampler: {{type: grid}}
objectives:
  - {{metric: mean/student/top1, direction: maximize}}
"""


DEFAULT = REPO / 'mm_configs' / 'jedi' / 'jedi_default.py'


def _spec(tmp_path, text):
    p = tmp_path / 's.yaml'
    p.write_text(text.format(base=DEFAULT))
    return p


def test_good_spec_resolves_fields(tmp_path):
    import os
    s = load_spec(_spec(tmp_path, GOOD))
    assert s.name == 'demo' and s.seeds == [0, 1] and s.is_grid
    assert s.features == Path(os.environ['JEDI_HOME']).resolve() / 'features' / 'demo'
    assert [o.metric for o in s.objectives] == ['mean/student/top1']
    assert s.directions == ['maximize']


@pytest.mark.parametrize('old,new,field', [
    ('seeds: [0, 1]', 'seeds: [0, 0]', 'seeds'),
    ('seeds: [0, 1]', 'seeds: [0, 1]\nbogus: 1', 'bogus'),
    ('model.gamma:', 'model.gama:', 'space.model.gama'),
    ('mean/student/top1', 'mean/pupil/top1', 'objectives[0].metric'),
    ('mean/student/top1', 'test/mean/student/top1', 'never optimised'),  # objectives are on validation
    ('direction: maximize', 'direction: up', 'objectives[0].direction'),
    ('{{type: grid}}\n', '{{type: annealing}}\n', 'sampler.type'),
    ("{{type: grid, values: [0.0, 0.4]}}", "{{type: float, low: 0.0, high: 1.0}}", 'sampler'),
    ("{{type: grid, values: [0.0, 0.4]}}", "{{type: log, low: 0.0, high: 1.0}}", 'space.model.gamma'),
    ("{{type: grid, values: [0.0, 0.4]}}", "{{type: grid, values: [0.4, 0.4]}}", 'space.model.gamma'),
    ('features: ${{JEDI_HOME}}', 'features: ${{NO_SUCH_VAR_5}}', 'features'),
])
def test_bad_field_is_named(tmp_path, old, new, field):
    with pytest.raises(JediError) as err:
        load_spec(_spec(tmp_path, GOOD.replace(old, new)))
    assert field in str(err.value) and 's.yaml' in str(err.value)


def test_pruner_needs_single_objective(tmp_path):
    text = GOOD + '  - {{metric: ds0/teacher/mAP, direction: maximize}}\npruner: median\n'
    with pytest.raises(JediError, match='pruner'):
        load_spec(_spec(tmp_path, text))


def test_missing_base_config_and_bad_yaml(tmp_path):
    p = tmp_path / 'x.yaml'
    p.write_text(GOOD.format(base=tmp_path / 'nope.py'))
    with pytest.raises(JediError, match='base_config'):
        load_spec(p)
    p.write_text('space: [unclosed')
    with pytest.raises(JediError, match='not valid YAML'):
        load_spec(p)
    with pytest.raises(JediError, match='no such file'):
        load_spec(tmp_path / 'absent.yaml')


def test_search_study_needs_budget(tmp_path):
    text = GOOD.replace('{{type: grid}}', '{{type: tpe, seed: 1}}')
    with pytest.raises(JediError, match='budget'):
        load_spec(_spec(tmp_path, text))
    s = load_spec(_spec(tmp_path, text + 'budget: {{n_trials: 3}}\n'))
    assert s.n_trials == 3 and not s.is_grid


@pytest.mark.parametrize('name,size', [('ablation_gamma', 2), ('fusion', 4), ('kd_loss', 3),
                                       ('label_fraction', 10), ('search', None)])
def test_shipped_specs_validate(name, size):
    from jedi_repro.studies.space import grid_points

    s = load_spec(REPO / 'studies' / f'{name}.yaml', check_paths=False)
    assert s.name == name
    assert s.base_config == REPO / 'mm_configs' / 'jedi' / 'jedi_default.py'
    assert s.seeds and len(set(s.seeds)) == len(s.seeds)
    if size is None:
        assert s.sampler['type'] == 'tpe' and s.pruner['type'] == 'median' and s.n_trials
        assert set(s.space) == {'model.alpha', 'model.beta', 'model.gamma', 'model.kd_loss.temperature',
                                'optim_wrapper.optimizer.lr', 'model.teacher_dropout'}
    else:
        assert len(grid_points(s.space)) == size


@pytest.mark.parametrize('old,new,field', [
    ('model.gamma: {{', 'model.gama: {{', 'space.model.gama'),
    ('seeds: [0, 1]', 'seeds: [0, 1]\ncfg_options: {{model.kd_loss.tau: 2}}', 'cfg_options'),
    # proj_dim belongs to the mean fusion, not to the default concat
    ('model.gamma: {{type: grid, values: [0.0, 0.4]}}', 'model.fusion.proj_dim: [8, 16]',
     'space.model.fusion.proj_dim'),
])
def test_keys_are_checked_against_the_base_config(tmp_path, old, new, field):
    with pytest.raises(JediError, match=f'field "{field}'):
        load_spec(_spec(tmp_path, GOOD.replace(old, new)))


@pytest.mark.parametrize('key,good,bad', [
    ('model.kd_pool', ['all', 'others'], 'mine'),
    ('precision', ['fp32', 'bf16'], 'fp16'),
])
def test_a_searched_value_is_checked_at_load(tmp_path, key, good, bad):
    """Values a key accepts are searchable; one it refuses stops the spec at load, field and value named."""
    def spec(values):
        return _spec(tmp_path, GOOD.replace('model.gamma: {{type: grid, values: [0.0, 0.4]}}',
                                            f'{key}: [{", ".join(values)}]'))
    assert load_spec(spec(good)).space[key].values == tuple(good)
    with pytest.raises(SpecError, match=f'field "space.{key}" = \'{bad}\''):
        load_spec(spec([good[0], bad]))


def test_component_arguments_are_searchable(tmp_path):
    """A key the chosen component accepts is searchable: a user's own fusion needs no framework edit."""
    text = GOOD.replace('seeds: [0, 1]', 'seeds: [0, 1]\ncfg_options: {{model.fusion.type: mean}}').replace(
        'model.gamma: {{type: grid, values: [0.0, 0.4]}}', 'model.fusion.proj_dim: [8, 16]')
    assert list(load_spec(_spec(tmp_path, text)).space) == ['model.fusion.proj_dim']
