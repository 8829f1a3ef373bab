"""One answer everywhere: a small study's best configuration and value, read from the report, the Optuna
study, the MLflow parent run and the console, are the same (``jedi_repro.aggregates``)."""
import json
import os
import re

import pytest

from jedi_repro import aggregates
from jedi_repro.reporting.report import write_report
from jedi_repro.studies.best import study_best
from jedi_repro.studies.runner import run_study
from jedi_repro.studies.spec import load_spec
from jedi_repro.studies.storage import load_study, storage_url
from jedi_repro.tracking.client import RetryingClient

pytestmark = pytest.mark.integration
REPO_CONFIG = os.path.join(os.path.dirname(__file__), '..', '..', 'mm_configs', 'jedi', 'jedi_default.py')
OBJECTIVES = ('mean/teacher/primary', 'mean/student/primary')


@pytest.fixture
def map_store(tmp_path):
    """Two datasets, one of which declares mAP: top-1 mean and primary mean differ."""
    from jedi_repro.data.toy import make_toy_store

    path = tmp_path / 'toy_map'
    make_toy_store(path, n_datasets=2, n_classes=3, dim=8, n_train=20, n_val=10, n_test=10,
                   map_datasets=('ds1',))
    return path


def _report_rows(md: str) -> list[dict]:
    section = md[md.index('## Best configuration'):].splitlines()
    header = next(line for line in section if line.startswith('| study'))
    cols = [c.strip() for c in header.strip('|').split('|')]
    rows = []
    for line in section[section.index(header) + 2:]:
        if not line.startswith('|'):
            break
        rows.append(dict(zip(cols, [c.strip() for c in line.strip('|').split('|')])))
    return rows


def test_report_optuna_mlflow_and_console_name_the_same_best(tmp_path, map_store, capsys):
    spec_path = tmp_path / 'one.yaml'
    spec_path.write_text(
        'name: one\ndescription: gamma 0 vs 0.4 on a toy store\n'
        f'base_config: {os.path.abspath(REPO_CONFIG)}\n'
        f'features: {map_store}\nseeds: [0, 1]\ncfg_options: {{train_cfg.max_epochs: 2}}\n'
        'space:\n  model.gamma: [0.0, 0.4]\nsampler: grid\n'
        'objectives:\n' + ''.join(f'  - {{metric: {m}, direction: maximize}}\n' for m in OBJECTIVES))
    summary = run_study(spec_path, workers=1, progress=False)
    assert summary['counts'] == {'COMPLETE': 2}
    console = capsys.readouterr().out
    spec = load_spec(spec_path)
    study = load_study(spec, storage_url(spec))

    # Optuna: the best trial per objective; its value is the mean over seeds of the seed runs' val metric
    bests = study_best(study)
    assert [b.metric for b in bests] == list(OBJECTIVES)
    client = RetryingClient()
    exp = client.get_experiment_by_name('one')
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parent = next(r for r in runs if r.data.tags['jedi.role'] == 'study')
    seeds = [r for r in runs if r.data.tags['jedi.role'] == 'seed']
    datasets = {'ds0': 'top1', 'ds1': 'mAP'}
    for b in bests:
        trial = study.trials[b.number]
        mine = [r for r in seeds if r.data.tags['jedi.trial'] == str(b.number)]
        assert len(mine) == 2
        per_seed = [r.data.metrics[f'val/{b.metric}'] for r in mine]
        assert b.value == trial.values[OBJECTIVES.index(b.metric)] == aggregates.mean(per_seed)
        # the primary mean is each dataset's primary metric, mAP for ds1 (not top-1 everywhere)
        role = b.metric.split('/')[1]
        for r in mine:
            want = aggregates.mean([r.data.metrics[f'val/ds0/{role}/top1'],
                                    r.data.metrics[f'val/ds1/{role}/mAP']])
            assert r.data.metrics[f'val/{b.metric}'] == pytest.approx(want, abs=1e-12)
        # MLflow parent run: best/{objective} and the trial's name
        assert parent.data.metrics[f'best/{b.metric}'] == b.value
        assert parent.data.tags[f'jedi.best/{b.metric}'] == b.name
        # console: the same words, name and value
        line = f'study one: {b.line(datasets)}'
        assert line in console, console
        assert f"{role}s' mean of each dataset's primary metric (top-1; mAP for ds1), validation" in line

    # the report: one best per objective, the same configuration and value
    md = (write_report(tmp_path / 'report', studies=['one']) / 'report.md').read_text()
    rows = _report_rows(md)
    assert len(rows) == 2
    for b, row in zip(bests, rows):
        idx = OBJECTIVES.index(b.metric)
        assert row['chosen by'] == f'highest val/{b.metric} (objective {idx + 1} of 2)'
        assert row['best configuration'] == f'one trial {b.number}'
        assert row['parameters'] == f'model.gamma={b.params["model.gamma"]:g}'
        assert row['value, val, % (mean over seeds)'] == f'{100 * b.value:.2f}'
        assert f'{100 * b.value:.2f}' == row[f'{b.metric.split("/")[1]} mean, val'].split()[0]
    for b in bests:  # the report's Optuna line names each objective's best trial in the console's words
        assert b.line(datasets) in md
    assert re.search(r'Optuna study `one` \(.*\): 2 completed trials; best by val/mean/teacher/primary', md)
    # a seed run's page answers on its own: its log and learning-curve figure beside config and metrics,
    # per-epoch curves as step histories of a few keys
    arts = {a.path for a in client.list_artifacts(seeds[0].info.run_id)}
    assert {'config.py', 'metrics.json', 'learning_curves.png', 'logs', 'report'} <= arts, arts
    # its description opens on the chosen checkpoint's means, the same numbers as its metrics
    m = seeds[0].data.metrics
    note = client.get_run(seeds[0].info.run_id).data.tags['mlflow.note.content']
    for role in ('student', 'teacher'):
        val, test = (100 * m[f'{split}/mean/{role}/primary'] for split in ('val', 'test'))
        assert re.search(rf'\| {role} \| \d+ \| {val:.2f} \| {test:.2f} \|', note), note
    assert 'report/report/report.md' in note  # the report's sections about it (report dir: "report")
    (log,) = client.list_artifacts(seeds[0].info.run_id, 'logs')
    assert log.path.endswith('.log') and log.file_size > 0
    curves = [k for k in seeds[0].data.metrics if k.startswith('val_epoch/')]
    roles = ('expert', 'student', 'teacher')
    assert set(curves) == {f'val_epoch/{d}/{r}/{m}' for d, m in datasets.items() for r in roles} \
        | {f'val_epoch/mean/{r}/{m}' for r in roles for m in ('primary', 'top1')}
    assert len(client.get_metric_history(seeds[0].info.run_id, 'val_epoch/mean/student/primary')) == 2
    # the experiment page and the parent run open on the ranked configurations (the winner first, in the
    # words and numbers of the console and the report), then say what the study is; a model-training
    # experiment, so that MLflow opens it on its runs
    exp = client.get_experiment(exp.experiment_id)
    note = exp.tags['mlflow.note.content']
    first = bests[0]
    assert note.startswith(f'<!-- jedi:ranking -->\n**Winner by val/{first.metric}: {first.name}, '
                           f'{100 * first.value:.2f} %**'), note
    assert 'gamma 0 vs 0.4 on a toy store' in note.split('<!-- jedi:study -->')[1]
    assert client.get_run(parent.info.run_id).data.tags['mlflow.note.content'].startswith(
        '<!-- jedi:ranking -->\n**Winner by')
    assert exp.tags['mlflow.experimentKind'] == 'custom_model_development'
    assert exp.tags['jedi.study_kind'] == 'ablation' and exp.tags['jedi.store'] == str(map_store)
    assert json.loads(parent.data.tags['jedi.objectives']) == [[m, 'maximize'] for m in OBJECTIVES]
    assert parent.data.params['space.model.gamma'].startswith('{') and 'study.seeds' in parent.data.params
    assert parent.data.params['study.kind'] == 'ablation'


def test_a_one_point_study_is_named_for_what_it_is(tmp_path, map_store, capsys):
    spec_path = tmp_path / 'base.yaml'
    spec_path.write_text(
        f'name: only_students\nbase_config: {os.path.abspath(REPO_CONFIG)}\nfeatures: {map_store}\n'
        'seeds: [0]\ncfg_options: {train_cfg.max_epochs: 1}\nspace:\n  model.gamma: [0.0]\nsampler: grid\n'
        'objective: {metric: mean/student/primary, direction: maximize}\n')
    run_study(spec_path, workers=1, progress=False)
    console = capsys.readouterr().out
    assert 'study only_students: the one configuration (' in console and 'trial-0000' not in console
    client = RetryingClient()
    runs = client.search_runs([client.get_experiment_by_name('only_students').experiment_id])
    names = sorted(r.info.run_name for r in runs)
    assert names == ['only_students', 'only_students', 'only_students seed=0'], names
    md = (write_report(tmp_path / 'report', studies=['only_students']) / 'report.md').read_text()
    assert 'one configuration, nothing searched (a baseline)' in md and 'completed trials' not in md
    (row,) = _report_rows(md)
    assert row['chosen by'] == 'one configuration (no choice)'
    assert row['best configuration'] == 'only_students'
