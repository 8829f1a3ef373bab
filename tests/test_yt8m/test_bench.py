"""Tests for `jedi bench yt8m`: CLI errors, result tables, teacher diagnostics, and (integration) the
cut -> experts -> store -> diagnostics stages on the real data."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from jedi_repro.benchmarks import yt8m as bench
from jedi_repro.cli import main
from jedi_repro.data import yt8m


def test_missing_data_exits_1_naming_the_path(tmp_path, capsys):
    missing = tmp_path / 'no_yt8m'
    rc = main(['bench', 'yt8m', '--data', str(missing), '--out', str(tmp_path / 'r'), '--skip-studies'])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith('error: ') and 'Traceback' not in err
    assert str(missing / yt8m.NPZ_NAME) in err.replace('\n  ', '')
    assert not (tmp_path / 'r').exists()


def test_unknown_setting_exits_1(tmp_path, capsys):
    rc = main(['bench', 'yt8m', '--settings', 'main,huge', '--out', str(tmp_path / 'r')])
    err = capsys.readouterr().err
    assert rc == 1 and "unknown setting(s) ['huge']" in err and 'hetero' in err


def test_every_setting_has_its_three_study_specs():
    from jedi_repro.studies.spec import load_spec
    for setting in bench.SETTINGS:
        kd, gamma0, student, fusion = (load_spec(p) for p in bench.study_specs(setting))
        assert {s.features.name for s in (kd, gamma0, student, fusion)} == {f'yt8m_{setting}'}
        assert len(fusion.seeds) >= 5 and fusion.seeds == gamma0.seeds == kd.seeds == student.seeds
        assert student.cfg_options['custom_hooks'] == []  # no JEDIDistillHook: no teachers, no KD
        assert list(kd.space['model.kd_reduction'].values) == ['pool_mean', 'dataset_sum']
        assert list(fusion.space['model.fusion.type'].values) == ['mean', 'attention', 'logits']
        assert list(gamma0.space['model.gamma'].values) == [0.0]


def test_variant_names():
    name = bench.variant_name
    concat = {'type': 'concat'}
    assert name({'model': {'fusion': concat, 'gamma': 0.4, 'kd_reduction': 'dataset_sum'}}) == \
        'paper (concat, g=0.4, dataset_sum)'
    assert name({'model': {'fusion': concat, 'gamma': 0.4}}) == 'concat, g=0.4, pool_mean'  # older runs
    assert name({'model': {'fusion': concat, 'gamma': 0.0, 'kd_reduction': 'dataset_sum'}}) == \
        'gamma=0 (concat)'
    assert name({'model': {'fusion': {'type': 'mean'}, 'gamma': 0.4, 'kd_reduction': 'dataset_sum'}}) == \
        'fusion=mean'
    assert name({'model': {'fusion': concat, 'gamma': 0.4}, 'custom_hooks': []}) == 'student fine-tuning only'
    assert name({'model': {'fusion': concat, 'gamma': 0.4, 'kd_reduction': 'dataset_sum'},
                 'custom_hooks': [{'type': 'JEDIDistillHook'}]}) == 'paper (concat, g=0.4, dataset_sum)'
    assert name({'model': {'fusion': {'type': 'logits'}, 'gamma': 0.1, 'kd_reduction': 'dataset_sum'}}) == \
        'fusion=logits, g=0.1'


def _metrics(expert, student, teacher, seed):
    role = lambda v: {'top1': v, 'top5': 1.0, 'mean_class': v / 2}  # noqa: E731
    block = {'expert': role(expert), 'student': role(student), 'teacher': role(teacher)}
    return {'datasets': {'a': block}, 'mean': block, 'seed': seed,
            'config': {'model': {'fusion': {'type': 'concat'}, 'gamma': 0.4}}}


def test_main_table_means_and_counts_over_seeds():
    runs = [dict(variant='paper (concat, g=0.4)', seed=s, metrics=_metrics(0.8, st, 0.7, s), path='')
            for s, st in ((0, 0.82), (1, 0.78), (2, 0.84))]
    for r, converged in zip(runs, (True, False, True)):
        r['metrics']['convergence'] = {'converged': converged}
    frame = bench.results_frame({'main': {'runs': runs}})
    table = bench.main_table(frame)
    row = next(line for line in table.splitlines() if line.startswith('| main |'))
    cells = [c.strip() for c in row.strip('|').split('|')]
    # setting, variant, seeds, expert, student, teacher, delta, wins, ...
    assert cells[:8] == ['main', 'paper (concat, g=0.4)', '3', '80.0 ± 0.0', '81.3 ± 3.1', '70.0 ± 0.0',
                         '1.3 ± 3.1', '2/3']
    assert cells[-1] == '2/3'  # runs that reached their validation plateau
    assert 'a' in bench.per_dataset_table(frame)
    assert bench.main_table(bench.results_frame({'main': {'runs': []}})).startswith('_no JEDI runs')


@pytest.mark.integration
def test_teacher_diagnostics_on_a_trained_run(tmp_path):
    """A real 1-epoch JEDI run on a toy store: the diagnostics rebuild the model from the run's files."""
    from jedi_repro.data.toy import make_toy_store
    from jedi_repro.engine.train import train
    make_toy_store(tmp_path / 'store', n_datasets=2, n_classes=[3, 4], dim=[6, 5], n_train=40, n_val=20,
                   n_test=20, labeled_fraction=0.5, seed=0)
    cfg = Path(bench.REPO) / 'mm_configs' / 'yt8m' / 'jedi_yt8m.py'
    train(str(cfg), features=tmp_path / 'store', work_dir=tmp_path / 'wd',
          cfg_options={'train_cfg.max_epochs': 1}, seed=0)
    diag = bench.teacher_diagnostics(tmp_path / 'wd' / 'metrics.json')['datasets']
    assert list(diag) == ['ds0', 'ds1']
    for row in diag.values():
        assert set(row) == {'pl_expert', 'pl_student', 'pl_teacher', 'cross_agree', 'cross_conf'}
        assert all(0.0 <= v <= 1.0 for v in row.values())
        assert row['cross_conf'] >= 1 / 4  # a max-probability is at least 1/C


@pytest.mark.integration
def test_bench_stores_and_diagnostics_on_real_data(tmp_path, capsys):
    """`jedi bench yt8m --settings scarce --skip-studies` on ../shared/data/yt8m (skipped if absent)."""
    try:
        yt8m.resolve_data_dir()
    except yt8m.YT8MDataError as exc:
        pytest.skip(str(exc))
    from jedi_repro import workspace
    from jedi_repro.data.feature_store import FeatureStore
    out = tmp_path / 'report'
    assert main(['bench', 'yt8m', '--settings', 'scarce', '--skip-studies', '--out', str(out)]) == 0
    store = FeatureStore.open(workspace.features_dir('yt8m_scarce'))
    assert store.dataset_names == ['sports', 'autos_vehicles', 'arts_entertainment', 'beauty_fitness']
    mask = np.asarray(store.labeled_mask('sports'))
    assert abs(mask.mean() - 0.1) < 0.01  # the scarce setting labels 10% of each train split
    text = (out / 'README.md').read_text()
    assert '| sports | Sports | 7 | 1089 | 363 | 363 |' in text and 'pseudo-label' in text
    experts = json.loads((workspace.path('bench', 'yt8m', 'scarce', 'experts.json')).read_text())
    assert all(e['test_top1'] > 1.0 / 3 for e in experts.values())  # every expert beats chance
    probes = (out / 'probes.csv').read_text().splitlines()
    assert probes[0] == 'setting,dataset,features,test_top1' and len(probes) > 4 * 6


def test_committed_report_keeps_only_markdown_png_csv(tmp_path):
    (tmp_path / 'tables').mkdir()
    (tmp_path / 'tables' / 'main.tex').write_text('x')
    (tmp_path / 'tables' / 'main.csv').write_text('a,b\n')
    (tmp_path / 'fig.png').write_bytes(b'\x89PNG')
    (tmp_path / 'report.md').write_text('[CSV](tables/main.csv) · [LaTeX](tables/main.tex)\n')
    bench.keep_md_png_csv(tmp_path)
    assert sorted(p.name for p in tmp_path.rglob('*') if p.is_file()) == ['fig.png', 'main.csv', 'report.md']
    assert (tmp_path / 'report.md').read_text() == '[CSV](tables/main.csv)\n'


def test_student_only_baseline_shows_no_teacher_figures():
    runs = [dict(variant=bench.STUDENT_ONLY, seed=s, metrics=_metrics(0.8, 0.82, 0.17, s), path='')
            for s in (0, 1)]
    table = bench.main_table(bench.results_frame({'main': {'runs': runs}}))
    row = next(r for r in table.splitlines() if r.startswith('| main |'))
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert cells[5] == 'no teachers' and cells[10] == 'no teachers'  # untrained teachers are not results
    assert cells[4] == '82.0 ± 0.0'


def test_bench_report_tables_and_figure_come_from_the_reporting_package(tmp_path, monkeypatch):
    """README tables are the reporting writer's pipe tables; the figure is reporting.figures.delta_bars."""
    from jedi_repro.reporting import figures

    drawn = []
    real = figures.delta_bars
    monkeypatch.setattr(figures, 'delta_bars', lambda *a, **k: drawn.append(a[0]) or real(*a, **k))
    monkeypatch.setattr(yt8m, 'describe_cut', lambda cut: 'CUT')
    runs = []
    for s, st in ((0, 0.82), (1, 0.78)):
        m = _metrics(0.8, st, 0.7, s)
        runs.append(dict(variant=bench.VARIANT_ORDER[0], seed=s, metrics=m, path=''))
    expert = dict(dataset='a', modality='rgb', hidden=8, num_layers=1, n_labeled=10, val={'acc/top1': 0.5},
                  test_top1=0.6, test_mean_class=0.55, train_s=1.0)
    probes = {'a': {'expert_probe': {'e_a': 0.7}, 'all': 0.75, 'own_head': 0.6}}
    results = {'main': dict(runs=runs, experts={'e_a': expert}, probes=probes, cut=None)}
    out = tmp_path / 'r'
    bench.write_bench_report(out, results, {'total': 60.0}, argv=['jedi', 'bench', 'yt8m'])
    text = (out / 'README.md').read_text()
    assert '| main | paper (concat, g=0.4, dataset_sum) | 2 | 80.0 ± 0.0 | 80.0 ± 2.8 |' in text
    assert '| main | e_a | rgb | 8 x 1 | 10 | 50.0 | 60.0 | 55.0 | 1.0 |' in text
    assert drawn == [['a']] and (out / 'student_minus_expert.png').stat().st_size > 1000
    assert (out / 'probes.csv').read_text().splitlines()[0] == 'setting,dataset,features,test_top1'
