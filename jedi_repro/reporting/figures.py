"""Figures (matplotlib, Agg, no pyplot state): learning curves, ablation bars, label-fraction curve,
parameter importances. Each function takes plain data and writes one PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use('Agg')
from matplotlib.figure import Figure  # noqa: E402 - after choosing the backend
from matplotlib.ticker import MaxNLocator  # noqa: E402

from jedi_repro.reporting import stats  # noqa: E402

COLORS = {'expert': '#7f7f7f', 'student': '#1f77b4', 'teacher': '#d62728'}
DPI = 110


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches='tight')
    return path


def _band(per_run: list[list[tuple[int, float]]]) -> tuple[list[int], list[float], list[float], list[int]]:
    """Per step: the mean over the runs that reached it, the 95% half-width (0 where fewer than two
    runs have that step) and how many runs it averages (runs stop at different epochs)."""
    steps = sorted({s for h in per_run for s, _ in h})
    means, cis, counts = [], [], []
    for step in steps:
        vals = [v for h in per_run for s, v in h if s == step]
        summ = stats.summarize(vals)
        means.append(summ.mean)
        cis.append(summ.ci or 0.0)
        counts.append(len(vals))
    return steps, means, cis, counts


#: The range of every metric shown (top-1, mAP: percent).
METRIC_RANGE = (0.0, 100.0)


def clipped_band(means: list[float], cis: list[float], scale: float = 100.0,
                 limits: tuple[float, float] = METRIC_RANGE) -> tuple[list[float], list[float]]:
    """Lower and upper edges of a ``mean ± ci`` band, scaled and clipped to the metric's range: a 95%
    interval over 3 seeds near 100% would otherwise claim accuracies above 100%."""
    lo, hi = limits
    lower = [min(hi, max(lo, (m - c) * scale)) for m, c in zip(means, cis)]
    upper = [min(hi, max(lo, (m + c) * scale)) for m, c in zip(means, cis)]
    return lower, upper


def padded_range(lows: list[float], highs: list[float], limits: tuple[float, float] = METRIC_RANGE,
                 pad: float = 0.05) -> tuple[float, float]:
    """The y range of a panel: the data with a small margin, never beyond the metric's range."""
    lo, hi = min(lows), max(highs)
    margin = max(1.0, (hi - lo) * pad)
    return max(limits[0], lo - margin), min(limits[1], hi + margin)


def learning_curves(
    history: dict[str, dict[str, list[list[tuple[int, float]]]]],
    datasets: dict[str, str],
    path: Path,
    title: str,
    selected: dict[str, list[int]] | None = None,
) -> Path | None:
    """Validation metric per epoch, one panel per dataset, one line per role (mean ± 95% CI over seeds).

    Args:
        history: ``{dataset: {role: [per-seed [(epoch, value)], ...]}}``.
        datasets: ``{dataset: metric}``.
        selected: ``{role: [epoch per seed]}``: the epochs whose checkpoints were tested (dotted lines).
    """
    panels = [d for d in datasets if any(any(runs) for runs in history.get(d, {}).values())]
    if not panels:
        return None
    fig = Figure(figsize=(4.2 * len(panels), 3.3))
    for i, d in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        lows: list[float] = []
        highs: list[float] = []
        counted = None
        for role, runs in history[d].items():
            runs = [h for h in runs if h]
            if not runs:
                continue
            x, m, ci, n = _band(runs)
            y = [v * 100 for v in m]
            # a mean of two or more seeds: solid, with its band; where one seed is left: dashed, no band
            several = [c >= 2 for c in n]
            cut = next((i for i, ok in enumerate(several) if not ok), len(x))
            ax.plot(x[:cut], y[:cut], marker='o', ms=3, color=COLORS.get(role),
                    label=f'{role} (mean of {max(n)} seeds' + (', dashed: 1 seed)' if cut < len(x) else ')'))
            if cut < len(x):
                ax.plot(x[max(0, cut - 1):], y[max(0, cut - 1):], ls='--', lw=1, color=COLORS.get(role))
            lower, upper = clipped_band(m, ci)
            ax.fill_between(x, lower, upper, where=several, color=COLORS.get(role), alpha=0.15, lw=0)
            lows += y + [v for v, ok in zip(lower, several) if ok]
            highs += y + [v for v, ok in zip(upper, several) if ok]
            counted = counted or (x, n)
        if counted is not None:  # how many seeds each epoch averages (every role of a run stops together)
            twin = ax.twinx()
            twin.step(counted[0], counted[1], where='mid', color='k', alpha=0.35, lw=1)
            twin.set_ylim(0, max(counted[1]) * 4)
            twin.set_yticks(sorted(set(counted[1])))
            twin.set_ylabel('seeds averaged', fontsize=7, color='0.4')
            twin.tick_params(labelsize=7, colors='0.4')
        for role, epochs in (selected or {}).items():
            for e in sorted(set(epochs)):
                ax.axvline(e, color=COLORS.get(role), ls=':', lw=1, alpha=0.6)
        if lows:
            ax.set_ylim(*padded_range(lows, highs))
        ax.set_title(f'{d}: val {datasets[d]}')
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel('epoch')
        ax.set_ylabel(f'{datasets[d]} (%)')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10, y=1.03)
    return _save(fig, path)


def monitor_curves(curves: dict[str, list[float]], selected: dict[str, int], path: Path,
                   title: str) -> Path | None:
    """One run's monitored validation curves (``metrics.json``'s ``convergence.curves``: the selection keys
    per epoch, from epoch 1) with the tested epoch of each marked; the seed run's own figure in MLflow."""
    if not any(curves.values()):
        return None
    fig = Figure(figsize=(5.0, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    for key, values in curves.items():
        role = key.split('/')[1] if key.count('/') == 2 else key
        ax.plot(range(1, len(values) + 1), [v * 100 for v in values], marker='o', ms=3,
                color=COLORS.get(role), label=key)
        if selected.get(key):
            ax.axvline(selected[key], color=COLORS.get(role), ls=':', lw=1)
    ax.set_ylim(*padded_range([min(v) * 100 for v in curves.values() if v],
                              [max(v) * 100 for v in curves.values() if v]))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel('epoch')
    ax.set_ylabel('validation (%)')
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def ablation_bars(
    values: list[str],
    summaries: dict[str, list[stats.Summary]],
    path: Path,
    dimension: str,
    ylabel: str,
    title: str,
) -> Path:
    """Grouped bars (one group per value of the dimension, one bar per role) with 95% CI error bars.

    Args:
        values: the dimension's values, in order.
        summaries: ``{role: [Summary per value]}`` of the mean-over-datasets metric.
    """
    fig = Figure(figsize=(max(4.5, 1.3 * len(values) + 2), 3.4))
    ax = fig.add_subplot(1, 1, 1)
    roles = list(summaries)
    width = 0.8 / max(1, len(roles))
    for j, role in enumerate(roles):
        xs = [i + (j - (len(roles) - 1) / 2) * width for i in range(len(values))]
        ys = [s.mean * 100 for s in summaries[role]]
        err = [(s.ci or 0.0) * 100 for s in summaries[role]]
        ax.bar(xs, ys, width, yerr=err, capsize=3, color=COLORS.get(role), label=role)
    lo = min(s.mean - (s.ci or 0) for ss in summaries.values() for s in ss) * 100
    hi = max(s.mean + (s.ci or 0) for ss in summaries.values() for s in ss) * 100
    pad = max(1.0, (hi - lo) * 0.15)
    bottom = max(0.0, lo - pad)
    ax.set_ylim(bottom, min(100.0, hi + pad))
    if bottom > 0:  # said on the figure itself: bars of a cut axis exaggerate differences
        title = f'{title}\nY AXIS STARTS AT {bottom:.0f} %, NOT 0: compare the bar tops, not their heights'
        ax.spines['bottom'].set_linestyle((0, (4, 3)))
    ax.set_xticks(range(len(values)), values)
    ax.set_xlabel(dimension)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis='y', alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def delta_bars(groups: list[str], series: dict[str, list[stats.Summary]], path: Path, ylabel: str,
               title: str) -> Path:
    """Grouped bars of paired differences in points (one group per entry of ``groups``, one bar per
    series) with 95% CI error bars and a zero line; unlike :func:`ablation_bars` the axis takes negative
    values.

    Args:
        groups: the x groups (e.g. datasets), in order.
        series: ``{name: [Summary of the difference (fraction) per group]}``.
    """
    fig = Figure(figsize=(1.6 + 1.4 * len(groups), 3.2))
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(series))
    for j, (name, summaries) in enumerate(series.items()):
        xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(groups))]
        ax.bar(xs, [s.mean * 100 for s in summaries], width, yerr=[(s.ci or 0.0) * 100 for s in summaries],
               capsize=2, color=COLORS.get(name), label=name)
    ax.axhline(0, color='k', lw=0.8)
    ax.set_xticks(range(len(groups)), groups, rotation=15, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(axis='y', alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def label_fraction_curve(
    series: dict[str, tuple[list[float], list[stats.Summary]]], path: Path, ylabel: str, title: str
) -> Path:
    """Metric against the labelled fraction, one line per series, 95% CI error bars.

    Args:
        series: ``{label: (fractions, [Summary per fraction])}``; the label's first word picks the colour
            (expert/student/teacher), further series of a role get dashed lines.
    """
    fig = Figure(figsize=(5.5, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    seen: dict[str, int] = {}
    for label, (xs, ss) in series.items():
        role = label.split()[0]
        k = seen[role] = seen.get(role, -1) + 1
        ax.errorbar(
            [x * 100 for x in xs],
            [s.mean * 100 for s in ss],
            yerr=[(s.ci or 0.0) * 100 for s in ss],
            marker='o',
            ms=4,
            capsize=3,
            color=COLORS.get(role),
            ls=('-', '--', ':', '-.')[k % 4],
            label=label,
        )
    ax.set_xscale('log')
    ticks = sorted({x * 100 for xs, _ in series.values() for x in xs})
    ax.set_xticks(ticks, [f'{t:g}' for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel('labelled fraction (%, log scale)')
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def importance_bars(importances: dict[str, float], path: Path, title: str) -> Path:
    """Horizontal bars of Optuna parameter importances (largest on top)."""
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig = Figure(figsize=(5, 0.45 * len(items) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    ax.barh([k for k, _ in items], [v for _, v in items], color='#1f77b4')
    ax.set_xlabel('importance (fANOVA)')
    ax.set_title(title, fontsize=10)
    ax.grid(axis='x', alpha=0.3)
    return _save(fig, path)
