"""A study's ranked configurations (its parent run's and experiment's description) and its saved runs view."""
import json
from types import SimpleNamespace

from jedi_repro.studies.ranking import collect, expert_key, rank, table
from jedi_repro.tracking.views import VIEW_KEY, runs_url, study_view, view_tags


def _run(run_id, role, parent=None, state='COMPLETE', name=None, seed=None, metrics=None, trial=None):
    tags = {'jedi.role': role, 'jedi.state': state}
    if parent:
        tags['mlflow.parentRunId'] = parent
    if seed is not None:
        tags['jedi.seed'] = str(seed)
    if trial is not None:
        tags['jedi.trial'] = str(trial)
    return SimpleNamespace(info=SimpleNamespace(run_id=run_id, run_name=name or run_id),
                           data=SimpleNamespace(tags=tags, metrics=metrics or {}))


def _study():
    trials = [_run('t0', 'trial', 'p', name='trial-0000 gamma=0', trial=0),
              _run('t1', 'trial', 'p', name='trial-0001 gamma=0.4', trial=1),
              _run('t2', 'trial', 'p', state='FAILED', name='trial-0002 gamma=0.8', trial=2)]
    seeds = []
    for t, base in (('t0', 0.80), ('t1', 0.84)):
        for seed in (0, 1, 2):
            seeds.append(_run(f'{t}s{seed}', 'seed', t, seed=seed, metrics={
                'val/mean/student/primary': base + 0.01 * seed, 'val/mean/expert/primary': 0.78,
                'test/mean/student/primary': base - 0.02 + 0.01 * seed}))
    return trials, seeds


def test_collect_and_rank_the_complete_trials_by_their_mean_over_seeds():
    trials, seeds = _study()
    rows = collect(trials, seeds, 'mean/student/primary')
    assert [r.name for r in rows] == ['trial-0000 gamma=0', 'trial-0001 gamma=0.4']  # the failed one: out
    best = rank(rows)[0]
    assert best.name == 'trial-0001 gamma=0.4' and abs(best.value - 0.85) < 1e-12
    assert rank(rows, 'minimize')[0].name == 'trial-0000 gamma=0'
    assert expert_key('mean/teacher/primary') == 'mean/expert/primary' and expert_key('ds0/x') is None


def test_table_opens_on_the_winner_with_intervals_margins_and_links():
    trials, seeds = _study()
    md = table(collect(trials, seeds, 'mean/student/primary'), 'mean/student/primary', 'maximize', '7',
               {'ds0': 'top1', 'ds1': 'mAP'})
    lines = md.splitlines()
    # the first line (what the UI shows before "Show more"): the winner and its value in percent
    assert lines[0].startswith('**Winner by val/mean/student/primary: trial-0001 gamma=0.4, 85.00 %**')
    assert 'mAP for ds1' in lines[0]
    rows = [x for x in lines if x.startswith('| 1 ') or x.startswith('| 2 ')]
    # percent, 95% CI over the 3 seeds (t = 4.30, sd 0.01: ± 2.48), margin to the best and to the experts
    link = '(#/experiments/7/runs/{}?workflowType=machine_learning)'
    assert rows[0] == (f'| 1 | [trial-0001 gamma=0.4]{link.format("t1")} | '
                       '85.00 ± 2.48 (3) | best | +7.00 ± 2.48 (3)** | 83.00 ± 2.48 (3) |')
    assert rows[1].startswith(f'| 2 | [trial-0000 gamma=0]{link.format("t0")} '
                              '| 81.00 ± 2.48 (3) | -4.00 ± 0.00 (3) |')
    assert table([], 'mean/student/primary', 'maximize', '7') == ''


def test_study_view_shows_the_trials_sorted_by_the_objective_with_the_test_means():
    view = study_view([('mean/teacher/primary', 'maximize')], ['model.gamma'])
    assert view['searchFilter'] == "tags.`jedi.role` = 'trial'"
    assert view['orderByKey'] == 'metrics.`val/mean/teacher/primary`' and view['orderByAsc'] is False
    assert view['selectedColumns'] == [
        'metrics.`val/mean/teacher/primary`', 'metrics.`test/mean/student/primary`',
        'metrics.`test/mean/teacher/primary`', 'metrics.`test/mean/expert/primary`', 'params.`model.gamma`']
    assert view['columnOrder'] == view['selectedColumns']  # the objective first
    assert study_view([('mean/student/primary', 'minimize')])['orderByAsc'] is True
    (key, value), = view_tags([('mean/teacher/primary', 'maximize')]).items()
    assert key == f'mlflow.sharedViewState.{VIEW_KEY}' and json.loads(value)['orderByAsc'] is False
    assert runs_url('http://127.0.0.1:5000/', '3') == (
        f'http://127.0.0.1:5000/#/experiments/3/runs?workflowType=machine_learning&viewStateShareKey={VIEW_KEY}')
