"""Statistics against numbers computed by hand (closed forms of Student's t for 1 and 2 degrees of
freedom, so the checks do not go through scipy)."""

import math

import numpy as np
import pytest

from jedi_repro.errors import JediError
from jedi_repro.reporting import stats

# Student t with df = 2: CDF(t) = 1/2 + t / (2 sqrt(2 + t^2)); so the two-sided p-value is
# 1 - |t| / sqrt(2 + t^2), and the 97.5% quantile solves t / sqrt(2 + t^2) = 0.95.
T975_DF2 = math.sqrt(2 * 0.95**2 / (1 - 0.95**2))  # 4.302652...
# df = 1 (Cauchy): quantile tan(pi (q - 1/2)); two-sided p = 1 - (2 / pi) atan(|t|).
T975_DF1 = math.tan(math.pi * 0.475)  # 12.706204...


def p_df2(t):
    return 1 - abs(t) / math.sqrt(2 + t * t)


def p_df1(t):
    return 1 - 2 / math.pi * math.atan(abs(t))


def test_t_critical_matches_closed_forms():
    assert stats.t_critical(2) == pytest.approx(T975_DF2, rel=1e-10)
    assert stats.t_critical(1) == pytest.approx(T975_DF1, rel=1e-10)
    assert round(T975_DF2, 3) == 4.303 and round(T975_DF1, 3) == 12.706  # printed t tables


def test_summarize_three_seeds_by_hand():
    s = stats.summarize([0.62, 0.64, 0.63])
    # mean 0.63, deviations -0.01, 0.01, 0 -> s^2 = 0.0002 / 2 = 0.0001, s = 0.01
    assert s.n == 3
    assert s.mean == pytest.approx(0.63)
    assert s.std == pytest.approx(0.01)
    assert s.ci == pytest.approx(T975_DF2 * 0.01 / math.sqrt(3))  # 0.0248414
    assert stats.format_cell(s) == '63.00 ± 2.48 (3)'


def test_summarize_one_seed_has_no_interval():
    s = stats.summarize([0.7])
    assert (s.mean, s.ci, s.n, s.std) == (0.7, None, 1, None)
    assert stats.format_cell(s) == '70.00 (1)'


def test_summarize_zero_variance_is_an_exact_zero_interval():
    s = stats.summarize([0.7, 0.7, 0.7])  # the mean of equal floats is not always exactly 0.7
    assert s.std == 0.0 and s.ci == 0.0
    assert stats.format_cell(s) == '70.00 ± 0.00 (3)'


def test_summarize_empty():
    s = stats.summarize([])
    assert s.n == 0 and math.isnan(s.mean)
    assert stats.format_cell(s) == '-'


@pytest.mark.parametrize('bad', [[0.5, float('nan')], [float('inf'), 0.1]])
def test_non_finite_values_are_errors(bad):
    with pytest.raises(JediError, match='non-finite'):
        stats.summarize(bad)


def test_paired_t_test_three_seeds_by_hand():
    student, expert = [0.62, 0.64, 0.63], [0.60, 0.60, 0.60]
    r = stats.paired_t_test(student, expert)
    # differences 0.02, 0.04, 0.03: mean 0.03, sd 0.01, t = 0.03 / (0.01 / sqrt 3) = 3 sqrt 3
    t = 3 * math.sqrt(3)
    assert r.t == pytest.approx(t)
    assert r.p == pytest.approx(p_df2(t))  # 0.0351
    assert r.diff.mean == pytest.approx(0.03)
    assert r.diff.ci == pytest.approx(T975_DF2 * 0.01 / math.sqrt(3))
    assert stats.significance_mark(r.p) == '*'
    assert r.note == ''


def test_paired_t_test_two_seeds_by_hand():
    r = stats.paired_t_test([0.625, 0.635], [0.55, 0.55])
    # differences 0.075, 0.085: mean 0.08, sd 0.01/sqrt 2, t = 0.08 / (0.005) = 16
    assert r.t == pytest.approx(16.0)
    assert r.p == pytest.approx(p_df1(16.0))  # 0.0398
    assert stats.significance_mark(r.p) == '*'


def test_paired_t_test_sign_and_no_difference():
    r = stats.paired_t_test([0.50, 0.51, 0.49], [0.5, 0.5, 0.5])
    assert r.t == pytest.approx(0.0, abs=1e-9) and r.p == pytest.approx(1.0)
    neg = stats.paired_t_test([0.60, 0.60, 0.60], [0.62, 0.64, 0.63])
    assert neg.t == pytest.approx(-3 * math.sqrt(3))
    assert neg.p == pytest.approx(p_df2(3 * math.sqrt(3)))


def test_paired_t_test_undefined_cases_say_why():
    one = stats.paired_t_test([0.7], [0.6])
    assert one.t is None and one.p is None and 'n = 1' in one.note
    assert one.diff.mean == pytest.approx(0.1) and one.diff.ci is None
    same = stats.paired_t_test([0.70, 0.71, 0.72], [0.60, 0.61, 0.62])  # every seed +0.10 (float noise)
    assert same.t is None and same.p is None and 'zero variance' in same.note
    assert same.diff.ci == 0.0
    assert stats.significance_mark(same.p) == ''


def test_paired_t_test_refuses_unpaired_input():
    with pytest.raises(JediError, match='pairs seeds'):
        stats.paired_t_test([0.1, 0.2], [0.1])


def test_significance_marks():
    assert [stats.significance_mark(p) for p in (0.009, 0.01, 0.049, 0.05, 0.5, None)] == [
        '**',
        '*',
        '*',
        '',
        '',
        '',
    ]


def test_format_cell_signed_and_no_negative_zero():
    s = stats.summarize([-1e-17, 1e-17, 0.0])
    assert stats.format_cell(s, signed=True) == '+0.00 ± 0.00 (3)'
    d = stats.summarize([0.02, 0.04, 0.03])
    assert stats.format_cell(d, signed=True) == '+3.00 ± 2.48 (3)'


def test_power_of_the_paired_test_against_simulation():
    # n = 3 seeds, true difference = 1 sd: simulate the test's rejection rate with the closed-form p
    rng = np.random.default_rng(0)
    d = rng.normal(1.0, 1.0, size=(40000, 3))
    t = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(3))
    rate = float(np.mean(np.abs(t) > T975_DF2))
    assert stats.paired_t_power(3, 1.0) == pytest.approx(rate, abs=0.01)  # about 0.18: low power
    assert stats.paired_t_power(1, 1.0) is None


def test_same_value_compares_json_params_by_content():
    from jedi_repro.reporting.selection import same_value
    hooks = [{'type': 'JEDIDistillHook', 'schedule': 'constant', 'stop_epoch': None}]
    logged = '[{"schedule": "constant", "stop_epoch": null, "type": "JEDIDistillHook"}]'
    assert same_value(logged, hooks) and same_value(hooks, logged)
    assert same_value(logged, '[{"type": "JEDIDistillHook", "schedule": "constant", "stop_epoch": null}]')
    assert not same_value(logged, '[{"type": "JEDIDistillHook", "schedule": "linear", "stop_epoch": null}]')
    assert same_value('0.4', 0.4) and not same_value('concat', 'mean')
