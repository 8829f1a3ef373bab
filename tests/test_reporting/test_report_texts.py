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


# ---- honest figures (issue 28) ----

def _drawn(monkeypatch):
    """The Figure a figure function builds, instead of a PNG."""
    drawn = []
    monkeypatch.setattr(figures, '_save', lambda fig, path: drawn.append(fig) or path)
    return drawn


def test_learning_curves_count_the_seeds_and_stop_the_band_at_one(monkeypatch, tmp_path):
    # three seeds stopped at epochs 4, 2 and 2: epochs 3-4 hold one seed, a value and no mean
    runs = [[(e, 0.5 + 0.01 * e) for e in range(1, 5)], [(1, 0.4), (2, 0.45)], [(1, 0.42), (2, 0.5)]]
    steps, means, cis, counts = figures._band(runs)
    assert steps == [1, 2, 3, 4] and counts == [3, 3, 1, 1] and cis[2:] == [0.0, 0.0]
    drawn = _drawn(monkeypatch)
    figures.learning_curves({'ds': {'student': runs}}, {'ds': 'top1'}, tmp_path / 'c.png', 'curves')
    ax, twin = drawn[0].axes
    (label,) = [line.get_label() for line in ax.get_lines() if not line.get_label().startswith('_')]
    assert label == 'student (mean of 3 seeds, dashed: 1 seed)'
    solid, dashed = ax.get_lines()[:2]
    assert list(solid.get_xdata()) == [1, 2] and dashed.get_linestyle() == '--'
    assert twin.get_ylabel() == 'seeds averaged' and list(twin.get_lines()[0].get_ydata()) == [3, 3, 1, 1]


def test_ablation_bars_say_so_when_the_axis_does_not_start_at_zero(monkeypatch, tmp_path):
    s = stats.summarize
    drawn = _drawn(monkeypatch)
    figures.ablation_bars(['0', '0.4'], {'student': [s([0.80, 0.81]), s([0.82, 0.83])]}, tmp_path / 'b.png',
                          'gamma', 'test, mean over datasets (%)', 'gamma study')
    ax = drawn[0].axes[0]
    assert ax.get_ylim()[0] > 0 and 'NOT 0' in ax.get_title() and 'test' in ax.get_ylabel()
    figures.ablation_bars(['0'], {'student': [s([0.02, 0.03])]}, tmp_path / 'c.png', 'gamma', 'y', 'low')
    assert drawn[1].axes[0].get_ylim()[0] == 0 and 'NOT 0' not in drawn[1].axes[0].get_title()
