"""Grouping runs into configurations, choosing the main configuration, and the table writers, on
in-memory stand-ins for MLflow runs (no tracking store needed)."""

import json
from types import SimpleNamespace

import pandas as pd
import pytest

from jedi_repro.errors import JediError
from jedi_repro.reporting import selection, tables
from jedi_repro.reporting.runs import build_run_set, dataset_metrics_of, final_metrics, parse_param
from jedi_repro.reporting.writers import latex_table, markdown_table, tex_escape

_counter = iter(range(10**6))


def fake_run(role, metrics=None, params=None, tags=None, status='FINISHED', parent=None, run_id=None):
    i = next(_counter)
    t = {'jedi.role': role, 'jedi.dataset_metrics': json.dumps({'a': 'top1'}), **(tags or {})}
    if parent:
        t['mlflow.parentRunId'] = parent
    return SimpleNamespace(
        info=SimpleNamespace(run_id=run_id or f'run{i:04d}', experiment_id='1', status=status, start_time=i),
        data=SimpleNamespace(
            tags=t, params={k: str(v) for k, v in (params or {}).items()}, metrics=metrics or {}
        ),
    )


def seed_metrics(expert, student, teacher):
    return {'test/a/expert/top1': expert, 'test/a/student/top1': student, 'test/a/teacher/top1': teacher}


def test_parse_param_restores_types():
    assert parse_param('0.4') == 0.4 and parse_param('3') == 3 and parse_param('true') is True
    assert parse_param('null') is None and parse_param('concat') == 'concat' and parse_param('nan') == 'nan'


def test_final_metrics_prefer_test_then_val_and_reject_nan():
    vals, split = final_metrics('r', {'test/a/student/top1': 0.5, 'val/a/student/top1': 0.4, 'wall_s': 3.0})
    assert (vals, split) == ({('a', 'student', 'top1'): 0.5}, 'test')
    vals, split = final_metrics('r', {'val/a/student/top1': 0.4, 'std/test/a/student/top1': 0.1})
    assert (vals, split) == ({('a', 'student', 'top1'): 0.4}, 'val')
    with pytest.raises(JediError, match=r"run r9: metric 'test/a/student/top1' is nan"):
        final_metrics('r9', {'test/a/student/top1': float('nan')})


def test_dataset_metrics_tag():
    assert dataset_metrics_of('r', {}, {('x', 'student', 'mAP'): 0.1, ('y', 'student', 'top1'): 0.2}) == {
        'x': 'mAP',
        'y': 'top1',
    }
    with pytest.raises(JediError, match='run r1: tag jedi.dataset_metrics is not JSON'):
        dataset_metrics_of('r1', {'jedi.dataset_metrics': '{oops'}, {})


def test_lone_runs_group_by_params_without_seeds_and_pruned_trials_are_left_out():
    lone = [
        fake_run(
            'seed',
            seed_metrics(0.6, s, 0.7),
            {
                'model.gamma': 0.4,
                'randomness.seed': i,
                'train_dataloader.dataset.seed': i,
                'work_dir': f'/w/{i}',
            },
            # seen in real runs: the tracking hash includes train_dataloader.dataset.seed, so it differs
            {'jedi.seed': str(i), 'jedi.config_hash': f'h{i}', 'jedi.trial': ''},
        )
        for i, s in enumerate((0.62, 0.64))
    ]
    pruned = fake_run('trial', status='KILLED', tags={'jedi.trial': '5'})
    under_pruned = fake_run('seed', seed_metrics(0.6, 0.9, 0.9), parent=pruned.info.run_id)
    rs = build_run_set([*lone, pruned, under_pruned], {'1': 'jedi-train'}, ['jedi-train'], ['--experiment x'])
    assert len(rs.configurations) == 1
    c = rs.configurations[0]
    assert [s.seed for s in c.seeds] == [0, 1] and c.trial is None and c.label.startswith('jedi-train ')
    assert c.params == {'model.gamma': 0.4}  # seeds and work dir are not configuration parameters
    assert any('pruned (KILLED)' in n for n in rs.notes)


def test_no_usable_runs_and_conflicting_metrics_are_errors():
    with pytest.raises(JediError, match='no finished seed runs'):
        build_run_set(
            [fake_run('seed', seed_metrics(0.6, 0.6, 0.6), status='FAILED')], {'1': 'e'}, ['e'], ['x']
        )
    a = fake_run('seed', seed_metrics(0.6, 0.6, 0.6))
    b = fake_run('seed', seed_metrics(0.6, 0.6, 0.6), tags={'jedi.dataset_metrics': json.dumps({'a': 'mAP'})})
    with pytest.raises(JediError, match="gives 'a' the metric 'mAP'"):
        build_run_set([a, b], {'1': 'e'}, ['e'], ['x'])


def _study(points):
    """A study with one trial per point ``(params, student values)``; expert 0.6, teacher 0.7."""
    runs = [fake_run('study', tags={'jedi.study': 's'})]
    for n, (params, students) in enumerate(points):
        trial = fake_run('trial', params=params, tags={'jedi.trial': str(n), 'jedi.study': 's'})
        runs.append(trial)
        for i, st in enumerate(students):
            runs.append(
                fake_run(
                    'seed',
                    seed_metrics(0.6, st, 0.7),
                    {**params, 'randomness.seed': i, 'work_dir': f'/w/{n}/{i}'},
                    {'jedi.seed': str(i), 'jedi.study': 's', 'jedi.trial': str(n)},
                    parent=trial.info.run_id,
                )
            )
    rs = build_run_set(runs, {'1': 's'}, ['s'], ['--study s'])
    return rs, tables.long_frame(rs)


def test_dimensions_grid_and_paper_configuration_rule():
    rs, frame = _study(
        [
            ({'model.gamma': 0.0, 'model.fusion.type': 'concat'}, (0.61, 0.62)),
            ({'model.gamma': 0.4, 'model.fusion.type': 'concat'}, (0.63, 0.64)),
            ({'model.gamma': 0.8, 'model.fusion.type': 'concat'}, (0.70, 0.71)),
        ]
    )
    dims = selection.study_dimensions(rs.configurations)
    assert dims == ['model.gamma'] and selection.is_grid(rs.configurations, dims)
    paper, why = selection.paper_configuration(rs, frame, selection.PAPER_DEFAULTS, dims)
    assert paper.trial == '1' and 'matches the default configuration (model.gamma=0.4)' in why
    # without a configuration at the default gamma: the best candidate (gamma 0.8), not gamma 0
    paper, why = selection.paper_configuration(
        rs, frame, {**selection.PAPER_DEFAULTS, 'model.gamma': 0.2}, dims
    )
    assert paper.trial == '2' and 'no configuration matches' in why
    assert selection.best_configuration(frame, rs.configurations).trial == '2'


def test_no_candidate_falls_back_to_the_best_overall():
    rs, frame = _study(
        [
            ({'model.gamma': 0.4, 'model.fusion.type': 'mean'}, (0.61, 0.62)),
            ({'model.gamma': 0.4, 'model.fusion.type': 'logits'}, (0.65, 0.66)),
        ]
    )
    paper, why = selection.paper_configuration(rs, frame, selection.PAPER_DEFAULTS, ['model.fusion.type'])
    assert paper.trial == '1' and why.startswith('no configuration has fusion concat')


def test_search_is_not_a_grid():
    rs, _ = _study(
        [
            ({'model.gamma': 0.1, 'model.alpha': 1.0}, (0.61,)),
            ({'model.gamma': 0.5, 'model.alpha': 0.3}, (0.62,)),
        ]
    )
    dims = selection.study_dimensions(rs.configurations)
    assert dims == ['model.gamma', 'model.alpha'] and not selection.is_grid(rs.configurations, dims)


def test_one_seed_cells_have_no_interval_and_no_test():
    rs, frame = _study([({'model.gamma': 0.4, 'model.fusion.type': 'concat'}, (0.65,))])
    t = tables.main_table(frame, rs, rs.configurations[0])
    row = dict(zip(t.display.columns, t.display.iloc[1]))
    assert row['a (top1)'] == '65.00 (1)' and row['mean'] == '65.00 (1)'
    delta = dict(zip(t.display.columns, t.display.iloc[3]))
    assert delta['a (top1)'] == '+5.00 (1)'
    assert any('n = 1' in n for n in t.notes)


def test_markdown_and_latex_escape():
    df = pd.DataFrame({'': ['a|b', 'x'], 'acc_top1 (%)': ['63.00 ± 2.48 (3)**', '-']})
    md = markdown_table(df)
    assert md.splitlines()[1] == '|:---|---:|' and 'a\\|b' in md
    assert tex_escape('acc_top1 (%) Δ ± 1**') == r'acc\_top1 (\%) $\Delta$ $\pm$ 1$^{**}$'
    tex = latex_table(tables.Table('t', 'a_b', df, pd.DataFrame()))
    assert r'\caption{a\_b}' in tex and r'\begin{tabular}{lr}' in tex
