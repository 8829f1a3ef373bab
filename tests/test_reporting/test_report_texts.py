"""Numbers that must not look wrong: clipped bands, one reused expert, cells named in notes, provenance."""
import pandas as pd

from jedi_repro.reporting import figures, provenance, stats, tables
from jedi_repro.reporting.paper_reference import ENTRIES


def test_learning_curve_band_is_clipped_to_the_metric_range():
    lower, upper = figures.clipped_band([0.98, 0.5, 0.01], [0.05, 0.1, 0.04])
    assert upper == [100.0, 60.0, 5.0] and lower[0] == 93.0 and lower[2] == 0.0
    lo, hi = figures.padded_range(lower, upper)
    assert 0.0 <= lo and hi == 100.0  # the axis never stretches past 100% (it did to 130%)


def test_learning_curves_figure_with_a_band_past_100(tmp_path):
    hist = {'ds': {'student': [[(1, 0.97), (2, 0.99)], [(1, 0.80), (2, 0.999)], [(1, 0.99), (2, 0.90)]]}}
    assert figures.learning_curves(hist, {'ds': 'top1'}, tmp_path / 'c.png', 'curves').stat().st_size > 1000


def _row(role, values, note=''):
    s = stats.summarize(values)
    return dict(role=role, summary=s, n=s.n, mark='', note=note, diff=None)


def test_reused_expert_shows_no_zero_interval():
    assert tables._cell(_row('expert', [0.7947] * 3)) == '79.47 (one expert)'
    assert tables._cell(_row('expert', [0.79, 0.80, 0.81])).startswith('80.00 ± ')  # measured: an interval
    assert tables._cell(_row('student', [0.5] * 3)) == '50.00 ± 0.00 (3)'  # a measured zero spread
    assert 'reused by every seed' in tables.ONE_EXPERT_NOTE and '± 0.00' in tables.ONE_EXPERT_NOTE


def test_undefined_tests_name_their_cells():
    note = 'zero variance: every seed has the same difference'
    rows = [('Δ teacher − expert', 'ds0 (top1)', {'note': note}),
            ('Δ teacher − expert', 'mean', {'note': note}),
            ('Δ student − expert', 'mean', {'note': ''})]
    assert tables.cell_notes(rows) == [f'{note} (Δ teacher − expert: ds0 (top1), Δ teacher − expert: mean)']


def test_report_cites_what_a_reader_can_open():
    assert not any('DESIGN.md' in str(cell) for entry in ENTRIES for cell in entry)


def test_code_version_from_a_wheel_is_the_package_version(tmp_path):
    text = provenance.git_state(tmp_path)  # not a git checkout
    assert text.startswith('jedi_repro ') and 'installed package' in text and 'unknown' not in text


def test_main_table_marks_one_expert_and_says_so():
    from jedi_repro.reporting.runs import Configuration, RunSet, SeedRun

    seeds = [SeedRun(f'r{i}', 's', i, {}, {}, {('ds', 'expert', 'top1'): 0.7, ('ds', 'student', 'top1'): v},
                     'test') for i, v in enumerate((0.71, 0.74, 0.72))]
    c = Configuration('k', 's', '0', 't', {}, seeds)
    rs = RunSet([c], {'ds': 'top1'}, ['s'], [], {}, [])
    t = tables.main_table(tables.long_frame(rs), rs, c)
    rows = {r['']: r for r in t.display.to_dict('records')}
    assert rows['expert (baseline)']['ds (top1)'] == '70.00 (one expert)' and t.one_expert
    assert isinstance(t.display, pd.DataFrame)


def test_expert_cell_says_one_expert_instead_of_a_zero_interval():
    from jedi_repro.reporting.tables import expert_cell

    assert expert_cell([0.455, 0.455, 0.455]) == '45.5 (one expert)'
    assert '±' in expert_cell([0.45, 0.46, 0.47])  # experts that differ per seed keep their interval
    assert expert_cell([0.455]) == '45.5 (1)'  # one seed: no interval, and no claim about reuse
