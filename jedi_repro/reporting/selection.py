"""Which configuration is "the paper's", what each study varies, and which configuration is best.

The rule for the main table (also printed in every report):

1. Candidates are configurations with ``model.fusion.type == 'concat'``, ``model.gamma > 0`` and
   ``JEDIDistillHook`` in ``custom_hooks`` (a parameter a run did not record does not exclude it).
2. Among them, a configuration that agrees with ``mm_configs/jedi/jedi_default.py`` on every study
   dimension it records is the paper configuration; of several such, the one with the most seeds, then
   the first in study/trial order.
3. Otherwise the best candidate: the highest mean over seeds of the students' mean-over-datasets metric
   on the validation split (never test: test figures are only reported).
4. With no candidate at all, the best configuration overall, and the report says so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from jedi_repro import aggregates
from jedi_repro.reporting.runs import Configuration, RunSet, is_seed_param

#: The objective of runs whose study recorded none (lone runs, studies older than the tag).
DEFAULT_OBJECTIVE = (f'mean/student/{aggregates.PRIMARY}', 'maximize')
OBJECTIVES_TAG = 'jedi.objectives'  # set on the parent run by jedi_repro.studies.runner.prepare

#: Used when ``mm_configs/jedi/jedi_default.py`` cannot be read: the paper's setting (docs/ARCHITECTURE.md).
PAPER_DEFAULTS: dict[str, Any] = {
    'model.alpha': 1.0,
    'model.beta': 1.0,
    'model.gamma': 0.4,
    'model.fusion.type': 'concat',
    'model.kd_loss.type': 'ce',
}
#: Study dimensions in the order tables show them; others follow alphabetically.
KNOWN_DIMENSIONS = (
    'data.labeled_fraction',
    'model.gamma',
    'model.fusion.type',
    'model.kd_loss.type',
    'model.adjustment.enabled',
    'data.unlabeled_datasets',
    'model.kd_loss.temperature',
    'model.teacher_dropout',
    'model.alpha',
    'model.beta',
    'optim_wrapper.optimizer.lr',
    'train_cfg.max_epochs',
)
_NOT_DIMENSIONS = ('dir', 'path', 'file', 'hash', 'features', 'run_id', 'time', 'name')


def default_config_path() -> Path:
    from jedi_repro.resources import config_path
    return config_path('jedi', 'jedi_default.py')


def flatten(d: dict, prefix: str = '') -> dict[str, Any]:
    """Nested dicts -> dotted keys (``{'model': {'gamma': 0.4}}`` -> ``{'model.gamma': 0.4}``)."""
    out = {}
    for k, v in d.items():
        key = f'{prefix}{k}'
        if isinstance(v, dict):
            out.update(flatten(v, key + '.'))
        else:
            out[key] = v
    return out


def load_defaults(path: Path | None = None) -> tuple[dict[str, Any], str]:
    """The default JEDI configuration, flattened, and where it came from."""
    path = Path(path) if path else default_config_path()
    if path.is_file():
        try:
            from mmengine.config import Config

            return flatten(Config.fromfile(str(path)).to_dict()), str(path)
        except Exception as exc:  # noqa: BLE001 - any parse failure falls back, and the report says why
            return dict(PAPER_DEFAULTS), f'built-in paper defaults ({path} could not be read: {exc})'
    return dict(PAPER_DEFAULTS), f'built-in paper defaults ({path} does not exist)'


def _structured(v: Any) -> Any:
    """A list or dict (or its JSON text, as MLflow params hold it) as key-sorted JSON: compared by content."""
    if isinstance(v, str) and v[:1] in ('[', '{'):
        try:
            v = json.loads(v)
        except ValueError:
            return v
    if isinstance(v, (list, dict)):
        return json.dumps(v, sort_keys=True, default=str)
    return v


def same_value(a: Any, b: Any) -> bool:
    a, b = _structured(a), _structured(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return str(a) == str(b)


def _order(keys) -> list[str]:
    known = [k for k in KNOWN_DIMENSIONS if k in keys]
    return known + sorted(set(keys) - set(known))


def study_dimensions(configs: list[Configuration]) -> list[str]:
    """The parameters whose values differ between a study's configurations.

    The trial runs' searched parameters when there are any, else every recorded parameter; seeds and
    path-like keys (work dirs, hashes) never count.
    """
    if len(configs) < 2:
        return []
    searched = [c for c in configs if c.trial_run_id]
    keys = set().union(*(c.params for c in configs))
    keys = {k for k in keys if not is_seed_param(k)}
    keys = {k for k in keys if not any(k.lower().endswith(s) for s in _NOT_DIMENSIONS)}
    dims = []
    for k in keys:
        vals = [c.params.get(k) for c in configs]
        if any(not same_value(v, vals[0]) for v in vals[1:]):
            dims.append(k)
    if searched:
        searched_keys = set().union(*(c.params for c in searched if c.params))
        trial_keys = {k for k in dims if k in searched_keys}
        dims = [k for k in dims if k in trial_keys] or dims
    return _order(dims)


def is_grid(configs: list[Configuration], dimensions: list[str]) -> bool:
    """True when the configurations form a full grid over the dimensions (an ablation), False for a
    search (sampled points, where per-value tables would mix the other dimensions)."""
    if not dimensions:
        return False
    keys = {tuple(str(c.params.get(d)) for d in dimensions) for c in configs}
    size = math.prod(len({str(c.params.get(d)) for c in configs}) for d in dimensions)
    return len(keys) == size


def sort_values(values: list) -> list:
    """Numbers ascending, then everything else as text (None last)."""
    nums = sorted({v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)})
    rest = sorted(
        {
            str(v)
            for v in values
            if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool))
        }
    )
    out = nums + rest
    if any(v is None for v in values):
        out.append(None)
    return out


def score(frame: pd.DataFrame, config: Configuration, role: str = 'student') -> float:
    """Mean over seeds of the role's mean-over-datasets metric (NaN if the runs have no such value).

    Callers pass the validation frame (``tables.long_frame(run_set, split='val')``) when choosing.
    """
    sel = frame[(frame.config == config.key) & (frame.role == role) & (frame.column == 'mean')]
    return aggregates.mean(sel.value) if len(sel) else float('nan')


def study_objectives(run_set: RunSet, study: str) -> list[tuple[str, str]]:
    """``[(metric, direction), ...]`` of a study, from its parent run; the students' primary mean else."""
    parent = run_set.parents.get(study)
    raw = parent.data.tags.get(OBJECTIVES_TAG) if parent is not None else None
    try:
        found = [(str(m), str(d)) for m, d in json.loads(raw)] if raw else []
    except (ValueError, TypeError):
        found = []
    return found or [DEFAULT_OBJECTIVE]


def objective_score(frame: pd.DataFrame, config: Configuration, metric: str) -> float:
    """Mean over seeds (``aggregates.mean``) of a validation objective, the value Optuna holds for the trial.

    Read from each seed run's ``val/{metric}``; runs that did not log it (older runs without ``primary``)
    fall back to the frame's mean column of the role (the same definition, recomputed per dataset).
    """
    scope, role, name = metric.split('/')
    vals = [s.val.get((scope, role, name)) for s in config.seeds]
    if vals and all(v is not None for v in vals):
        return aggregates.mean(vals)
    if scope == 'mean' and name == aggregates.PRIMARY:
        return score(frame, config, role)
    return float('nan')


def best_by_objective(frame: pd.DataFrame, configs: list[Configuration], metric: str,
                      direction: str = 'maximize') -> tuple[Configuration | None, float]:
    """The configuration with the best :func:`objective_score` (ties: the first in trial order), and it."""
    scores = [objective_score(frame, c, metric) for c in configs]
    i = aggregates.best_index(scores, direction)
    return (None, float('nan')) if i is None else (configs[i], scores[i])


def best_configuration(frame: pd.DataFrame, configs: list[Configuration]) -> Configuration:
    """The configuration with the highest student score in ``frame`` (ties: the first in study/trial order).

    Pass the validation frame: choosing on the split that is reported inflates the reported result.
    """
    scored = [(score(frame, c), i, c) for i, c in enumerate(configs)]
    scored = [s for s in scored if not math.isnan(s[0])] or [(0.0, i, c) for i, c in enumerate(configs)]
    return max(scored, key=lambda s: (s[0], -s[1]))[2]


def distills(c: Configuration) -> bool:
    """False for the student-only baseline: a run that recorded its hooks without ``JEDIDistillHook``."""
    hooks = c.params.get('custom_hooks')
    return hooks is None or 'JEDIDistillHook' in str(hooks)


def _is_candidate(c: Configuration) -> bool:
    gamma = c.params.get('model.gamma')
    fusion = c.params.get('model.fusion.type')
    ok_gamma = gamma is None or (isinstance(gamma, (int, float)) and gamma > 0)
    return ok_gamma and distills(c) and (fusion is None or str(fusion) == 'concat')


def baselines(configs: list[Configuration], main: Configuration) -> dict[str, Configuration]:
    """The baselines the main table shows beside JEDI, where the runs have them.

    ``student, gamma = 0``: a distilling configuration with ``model.gamma == 0`` and the main configuration's
    fusion (teachers trained jointly, no KD term); ``student fine-tuning only``: a configuration without
    ``JEDIDistillHook`` (no teachers, no KD). Of several, the one with the most seeds, then the first.
    """
    def pick(cands):
        cands = [c for c in cands if c is not main]
        return max(cands, key=lambda c: (len(c.seeds), -configs.index(c))) if cands else None

    fusion = main.params.get('model.fusion.type')
    found = {
        'student, gamma = 0': pick([c for c in configs if distills(c) and c.params.get('model.gamma') == 0
                           and c.params.get('model.fusion.type') == fusion]),
        'student fine-tuning only': pick([c for c in configs if not distills(c)]),
    }
    return {k: v for k, v in found.items() if v is not None}


def paper_configuration(
    run_set: RunSet, frame: pd.DataFrame, defaults: dict[str, Any], dimensions: list[str]
) -> tuple[Configuration, str]:
    """Apply the module's rule; return the configuration and a sentence that says which step chose it."""
    configs = run_set.configurations
    cands = [c for c in configs if _is_candidate(c)]
    if not cands:
        best = best_configuration(frame, configs)
        return best, (
            f'no configuration has fusion concat and gamma > 0, so the best configuration overall '
            f'({best.label}, highest mean validation student metric) is shown'
        )
    keys = [k for k in dimensions if k in defaults]
    matching = [c for c in cands if all(same_value(c.params[k], defaults[k]) for k in keys if k in c.params)]
    if matching:
        top = max(matching, key=lambda c: (len(c.seeds), -configs.index(c)))
        agreed = ', '.join(f'{k}={defaults[k]}' for k in keys if k in top.params)
        if not agreed:
            return top, (
                f'{top.label} has fusion concat and gamma > 0 (no study dimension to compare with the '
                'default configuration)'
                + ('' if len(matching) == 1 else f'; of {len(matching)} such, the one with the most seeds')
            )
        extra = (
            f'; {len(matching)} configurations match, the one with the most seeds is shown'
            if len(matching) > 1
            else ''
        )
        return top, f'{top.label} matches the default configuration ({agreed}){extra}'
    best = best_configuration(frame, cands)
    return best, (
        f'no configuration matches the default configuration on {", ".join(keys)}; the best '
        f'configuration on validation with fusion concat and gamma > 0 ({best.label}) is shown'
    )
