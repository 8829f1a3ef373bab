"""Statistics over seeds: mean, a Student-t 95% confidence interval, and a paired t-test.

Small pure functions on plain sequences of floats; NaN input is an error (a metric that is NaN is a
failed run and must not be averaged away). With n seeds the interval has n - 1 degrees of freedom, so
with 3 seeds it is wide (t = 4.30) and the paired test has low power: a true mean difference of one
standard deviation of the per-seed differences is detected (p < 0.05) with probability 0.18, one of two
standard deviations with 0.47 (``paired_t_power``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as _st

from jedi_repro.errors import JediError

CONFIDENCE = 0.95
#: The test used for every "X vs expert" comparison (named in the report).
PAIRED_TEST_NAME = 'two-sided paired t-test over seeds (Student t, n - 1 degrees of freedom)'


class StatisticsError(JediError):
    """Values that cannot be summarised (NaN, infinite, unpaired)."""


@dataclass(frozen=True)
class Summary:
    """Mean of n values with the half-width of its confidence interval.

    Args:
        mean: arithmetic mean (NaN when n == 0).
        ci: half-width of the 95% interval; None when n < 2 (no interval can be estimated).
        n: number of values (seeds).
        std: sample standard deviation (ddof=1); None when n < 2.
    """

    mean: float
    ci: float | None
    n: int
    std: float | None


@dataclass(frozen=True)
class PairedTest:
    """Result of the paired t-test of ``a - b`` against zero.

    Args:
        diff: the differences summarised (mean difference, its 95% interval, n).
        t: the t statistic; None when the test is undefined.
        p: the two-sided p-value; None when the test is undefined.
        note: why the test is undefined ('' when it is defined).
    """

    diff: Summary
    t: float | None
    p: float | None
    note: str = ''


def _check(values: Sequence[float], what: str) -> list[float]:
    out = [float(v) for v in values]
    bad = [v for v in out if not math.isfinite(v)]
    if bad:
        raise StatisticsError(
            f'{what}: non-finite value(s) {bad} among {out}; a NaN metric means a '
            'failed run, which the report does not average away'
        )
    return out


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean (NaN for an empty sequence)."""
    v = _check(values, 'mean')
    return sum(v) / len(v) if v else float('nan')


#: Values closer than this (relative to their size) are equal: float noise such as 0.62 - 0.60 vs
#: 0.63 - 0.61 must not turn "every seed has the same difference" into a t statistic of 1e15.
EQUAL_RTOL = 1e-12


def all_equal(values: Sequence[float]) -> bool:
    v = list(values)
    return not v or max(v) - min(v) <= EQUAL_RTOL * max(1.0, max(abs(x) for x in v))


def sample_std(values: Sequence[float]) -> float | None:
    """Sample standard deviation with ddof=1 (exactly 0.0 for equal values); None when fewer than 2."""
    v = _check(values, 'std')
    if len(v) < 2:
        return None
    if all_equal(v):
        return 0.0
    m = sum(v) / len(v)
    return math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))


def t_critical(df: int, confidence: float = CONFIDENCE) -> float:
    """Two-sided critical value of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        raise StatisticsError(f't_critical: needs df >= 1, got {df}')
    return float(_st.t.ppf(0.5 + confidence / 2, df))


def t_two_sided_p(t: float, df: int) -> float:
    """Two-sided p-value of a t statistic with ``df`` degrees of freedom."""
    return float(2 * _st.t.sf(abs(t), df))


def summarize(values: Sequence[float], confidence: float = CONFIDENCE) -> Summary:
    """Mean and Student-t confidence half-width ``t_{df} * s / sqrt(n)`` over seeds.

    n == 1 gives no interval (ci None); zero variance gives ci == 0.0 (an honest, exact zero).
    """
    v = _check(values, 'summarize')
    n = len(v)
    if n == 0:
        return Summary(float('nan'), None, 0, None)
    m = sum(v) / n
    s = sample_std(v)
    if s is None:
        return Summary(m, None, 1, None)
    return Summary(m, t_critical(n - 1, confidence) * s / math.sqrt(n), n, s)


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> PairedTest:
    """Two-sided paired t-test of mean(a - b) == 0, pairing a[i] with b[i] (the same seed).

    Undefined (t and p None, with a note) when n < 2, or when every difference is the same (zero
    variance): the t statistic would be 0/0 or infinite, and claiming p = 0 from three identical
    differences would overstate the evidence.
    """
    a = _check(a, 'paired_t_test a')
    b = _check(b, 'paired_t_test b')
    if len(a) != len(b):
        raise StatisticsError(f'paired_t_test: {len(a)} vs {len(b)} values; the test pairs seeds one to one')
    d = [x - y for x, y in zip(a, b)]
    diff = summarize(d)
    if diff.n < 2:
        return PairedTest(diff, None, None, f'n = {diff.n}: no test with fewer than 2 paired seeds')
    if diff.std == 0.0:
        return PairedTest(diff, None, None, 'zero variance: every seed has the same difference')
    t = diff.mean / (diff.std / math.sqrt(diff.n))
    return PairedTest(diff, t, t_two_sided_p(t, diff.n - 1))


def paired_t_power(n: int, effect: float, alpha: float = 0.05) -> float | None:
    """Power of the two-sided paired t-test with n pairs for a standardised effect (mean / sd of the
    differences), from the noncentral t distribution; None when n < 2."""
    if n < 2:
        return None
    df = n - 1
    tc = float(_st.t.ppf(1 - alpha / 2, df))
    nc = effect * math.sqrt(n)
    return float(_st.nct.sf(tc, df, nc) + _st.nct.cdf(-tc, df, nc))


def significance_mark(p: float | None) -> str:
    """'**' for p < 0.01, '*' for p < 0.05, '' otherwise or when the test is undefined."""
    if p is None:
        return ''
    if p < 0.01:
        return '**'
    if p < 0.05:
        return '*'
    return ''


def _no_negative_zero(x: float, digits: int) -> float:
    # a difference of -1e-17 from float rounding must print as 0.00, not -0.00
    return 0.0 if abs(x) < 0.5 * 10**-digits else x


def format_cell(s: Summary, scale: float = 100.0, digits: int = 2, signed: bool = False) -> str:
    """'mean ± ci (n)' in percent; 'mean (n=1)' without an interval; '-' when there is no value."""
    if s.n == 0:
        return '-'
    fmt = f'{{:{"+" if signed else ""}.{digits}f}}'
    m = fmt.format(_no_negative_zero(s.mean * scale, digits))
    if s.ci is None:
        return f'{m} (1)'
    return f'{m} ± {s.ci * scale:.{digits}f} ({s.n})'
