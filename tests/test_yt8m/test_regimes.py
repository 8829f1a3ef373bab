"""`jedi bench regimes`: the map config, its study specs, and (slow) the whole command on a tiny store."""
from __future__ import annotations

import csv

import pytest

from jedi_repro.benchmarks import regimes as R
from jedi_repro.cli import main


def test_the_committed_map_has_the_cells_the_issue_asks_for():
    from jedi_repro.studies.spec import load_spec
    m = R.load_map()
    assert [float(f) for f in m.label_fractions] == [0.05, 0.1, 0.25, 0.5]
    assert set(m.views) == {'same', 'different'} and len(m.seeds) >= 5
    same = {s['modality'] for s in m.views['same'].values()}
    different = {s['modality'] for s in m.views['different'].values()}
    assert same == {'rgb+audio'} and {'rgb', 'audio'} <= different
    assert 'different' in m.kd_pool_views
    cell = R.Cell('different', 0.05)
    specs = {p.stem.rsplit('_', 1)[-1]: load_spec(p) for p in R.write_specs(m, cell)}
    assert set(specs) == {'jedi', 'gamma0', 'student', 'pool'}
    assert specs['student'].cfg_options['custom_hooks'] == []
    assert list(specs['pool'].space['model.kd_pool'].values) == ['own', 'others']
    assert list(specs['gamma0'].space['model.gamma'].values) == [0.0]
    assert all(s.features == R.store_dir(m, cell) for s in specs.values())
    assert [p.stem for p in R.write_specs(m, R.Cell('same', 0.5))] == [
        'regimes_same_f050_jedi', 'regimes_same_f050_gamma0', 'regimes_same_f050_student']


def test_the_committed_overlap_map_declares_the_paper_regime_and_its_cut():
    """Fully labelled; overlap 0 / 30 / 60 %; n = 2, 4, 8; both views at n = 4 (the declared cut); kd_pool
    own / others where classes overlap (at n = 4); the first map's budgets."""
    m = R.load_map(R.OVERLAP_MAP_CONFIG)
    first = R.load_map()
    assert R.is_overlap_map(m) and not R.is_overlap_map(first)
    assert m.labeled_fraction == 1.0 and tuple(m.overlaps) == (0.0, 0.3, 0.6) and len(m.seeds) >= 5
    cells = R.cells(m)
    assert {c.n for c in cells} == {2, 4, 8} and {c.overlap for c in cells} == {0.0, 0.3, 0.6}
    assert {c.view for c in cells if c.n == 4} == {'same', 'different'}
    assert m.jedi_cfg_options == first.jedi_cfg_options
    assert all(m.expert_defaults[k] == first.expert_defaults[k]
               for k in ('hidden', 'num_layers', 'max_epochs'))
    assert R.cell_variants(m, R.Cell('same', 1.0, 4, 0.0)) == ['jedi', 'gamma0', 'student']
    assert R.cell_variants(m, R.Cell('different', 1.0, 4, 0.3))[-1] == 'kd_pool'
    assert [p.stem for p in R.write_specs(m, R.Cell('same', 1.0, 8, 0.6))] == [
        'overlap_same_n8_o60_jedi', 'overlap_same_n8_o60_gamma0', 'overlap_same_n8_o60_student']
    setting = R.cell_setting(m, R.Cell('different', 1.0, 4, 0.3), ['d0', 'd1', 'd2', 'd3'])
    assert [e['modality'] for e in setting.experts.values()] == ['rgb', 'audio', 'rgb+audio', 'audio']
    assert setting.overlap_cut['n'] == 4 and setting.labeled_fraction == 1.0


def test_a_bad_map_is_refused_naming_the_field(tmp_path, capsys):
    base = R.MAP_CONFIG.as_posix()
    (tmp_path / 'map.py').write_text(f"_base_ = ['{base}']\nlabel_fractions = (0.1, 1.5)\n")
    rc = main(['bench', 'regimes', '--map', str(tmp_path / 'map.py'), '--out', str(tmp_path / 'r')])
    err = capsys.readouterr().err
    assert rc == 1 and 'label_fractions: 1.5' in err and 'Traceback' not in err
    assert not (tmp_path / 'r').exists()


def test_an_overlap_map_grid_row_outside_overlaps_is_refused(tmp_path, capsys):
    base = R.OVERLAP_MAP_CONFIG.as_posix()
    (tmp_path / 'map.py').write_text(f"_base_ = ['{base}']\ngrid = [('same', 2, (0.0, 0.45))]\n")
    rc = main(['bench', 'regimes', '--map', str(tmp_path / 'map.py'), '--out', str(tmp_path / 'r')])
    err = capsys.readouterr().err
    assert rc == 1 and 'grid row' in err and '0.45' in err and 'Traceback' not in err


def test_an_overlap_cell_the_data_cannot_give_is_refused_before_any_training(synth_yt8m, tmp_path, capsys):
    data_dir, _ = synth_yt8m
    (tmp_path / 'map.py').write_text(TINY_OVERLAP_MAP.format(data=str(data_dir))
                                     + "grid = [('same', 2, (0.5,)), ('same', 8, (0.0,))]\n")
    rc = main(['bench', 'regimes', '--map', str(tmp_path / 'map.py'), '--out', str(tmp_path / 'r')])
    err = capsys.readouterr().err
    assert rc == 1 and 'cell same_n8_o00' in err and 'Lower n' in err and 'Traceback' not in err
    assert not (tmp_path / 'r').exists() and not list(tmp_path.glob('**/*.log'))


TINY_MAP = """
name = 'regimes'
data_dir = {data!r}
cut = dict(verticals=('Sports', 'Autos'), k=2, min_per_class=1, fractions=(0.6, 0.2, 0.2), seed=0)
labeled_seed = 0
label_fractions = (0.5,)
views = dict(same=dict(sports=dict(modality='rgb+audio'), autos=dict(modality='rgb+audio')),
             different=dict(sports=dict(modality='rgb'), autos=dict(modality='audio')))
expert_defaults = dict(hidden=16, num_layers=1, max_epochs=2)
seeds = (0,)
kd_pool_views = ('different',)
base_config = 'mm_configs/yt8m/jedi_yt8m.py'
jedi_cfg_options = {{'train_cfg.max_epochs': 2, 'default_hooks.plateau.patience': 1}}
"""


@pytest.mark.slow
def test_the_map_command_end_to_end_on_a_tiny_store(synth_yt8m, tmp_path):
    """Cells -> stores -> studies -> diagnostic validation -> report; a second call reuses everything."""
    data_dir, _ = synth_yt8m
    (tmp_path / 'map.py').write_text(TINY_MAP.format(data=str(data_dir)))
    out = tmp_path / 'report'
    argv = ['bench', 'regimes', '--map', str(tmp_path / 'map.py'), '--out', str(out), '--workers', '2']
    assert main(argv) == 0
    rows = list(csv.DictReader(open(out / 'results.csv')))
    # same: jedi, gamma0, student; different: + own, others; one seed each
    assert len(rows) == 3 + 5
    pairs = {(r['cell'], r['variant']) for r in rows}
    assert pairs >= {('different_f050', 'own'), ('different_f050', 'others'), ('same_f050', 'student')}
    assert all(r['mean_student_top1'] for r in rows)
    text = (out / 'README.md').read_text()
    assert 'students: JEDI - gamma=0' in text and 'Spearman' in text and 'own - all' in text
    assert (out / 'figures' / 'students_jedi_minus_gamma0.png').is_file()
    assert (out / 'figures' / 'teachers_jedi_minus_gamma0.png').is_file()
    before = (out / 'results.csv').read_text()
    assert main([*argv, '--report-only']) == 0
    assert (out / 'results.csv').read_text() == before  # the same runs, read again


TINY_OVERLAP_MAP = """
name = 'tinyoverlap'
data_dir = {data!r}
labeled_fraction = 1.0
overlap_cut = dict(classes_per_dataset=2, videos_per_class=4, universe=8, fractions=(0.5, 0.25, 0.25), seed=0)
overlaps = (0.0, 0.5)
views = dict(same=('rgb+audio',), different=('rgb', 'audio'))
expert_defaults = dict(hidden=16, num_layers=1, max_epochs=2)
seeds = (0,)
grid = [('same', 2, (0.5,))]
kd_pool_n = ()
base_config = 'mm_configs/yt8m/jedi_yt8m.py'
jedi_cfg_options = {{'train_cfg.max_epochs': 2, 'default_hooks.plateau.patience': 1}}
"""


@pytest.mark.slow
def test_the_overlap_map_end_to_end_on_a_tiny_store(synth_yt8m, tmp_path):
    """The CI version of the second map: overlap cut -> fully labelled stores -> studies -> report, with the
    class overlap measured on each written store (kd_pool is covered by the first map's tiny test)."""
    data_dir, _ = synth_yt8m
    (tmp_path / 'map.py').write_text(TINY_OVERLAP_MAP.format(data=str(data_dir)))
    out = tmp_path / 'report'
    argv = ['bench', 'regimes', '--map', str(tmp_path / 'map.py'), '--out', str(out), '--workers', '2']
    assert main(argv) == 0
    rows = list(csv.DictReader(open(out / 'results.csv')))
    assert len(rows) == 3  # jedi, gamma0, student (kd_pool: none at this n)
    measured = {r['cell']: float(r['overlap_measured']) for r in rows}
    assert measured == {'same_n2_o50': 0.5}  # 1 of each dataset's 2 classes, read back from the store
    text = (out / 'README.md').read_text()
    assert 'students: JEDI - student-only' in text and '| same | 2 | 50% |' in text
    assert 'same_n2_o50 50%' in text and 'Spearman' in text
    assert 'Diagnostic: can the KD gain be predicted' in text
