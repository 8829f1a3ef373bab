"""Declarative study specs (``studies/*.yaml``, safe YAML): loading and validation.

Every error names the spec file and the field at fault. See ``studies/README.md`` for the format.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jedi_repro import workspace
from jedi_repro.errors import JediError
from jedi_repro.studies.space import ParamSpec, parse_space

TOP_KEYS = {'name', 'description', 'base_config', 'features', 'cfg_options', 'seeds', 'space', 'sampler',
            'objective', 'objectives', 'pruner', 'budget'}
SAMPLERS = {'grid', 'brute-force', 'tpe', 'random'}
PRUNERS = {'median', 'none'}
DIRECTIONS = {'maximize', 'minimize'}
ROLES = {'expert', 'student', 'teacher'}
METRICS = {'top1', 'top5', 'mean_class', 'mAP', 'primary'}
NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')
DEFAULT_FEATURES = '${JEDI_HOME}/features/demo'


class SpecError(JediError):
    """A study spec that cannot be used; the message names the file and field."""


@dataclass(frozen=True)
class Objective:
    """One objective: ``metric`` is ``{dataset|mean}/{role}/{metric}`` of the final (test) metrics."""
    metric: str
    direction: str = 'maximize'

    def key(self, split: str) -> str:
        return f'{split}/{self.metric}'


@dataclass
class StudySpec:
    """A validated study spec."""
    name: str
    path: Path
    base_config: Path
    features: Path
    seeds: list[int]
    space: dict[str, ParamSpec]
    objectives: list[Objective]
    sampler: dict[str, Any] = field(default_factory=lambda: {'type': 'tpe'})
    pruner: dict[str, Any] = field(default_factory=lambda: {'type': 'none'})
    cfg_options: dict[str, Any] = field(default_factory=dict)
    n_trials: int | None = None
    timeout_s: float | None = None
    description: str = ''

    @property
    def is_grid(self) -> bool:
        return self.sampler['type'] in ('grid', 'brute-force')

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]


def load_spec(path: str | Path, check_paths: bool = True) -> StudySpec:
    """Read and validate a study spec.

    Args:
        path: the YAML file.
        check_paths: also require ``base_config`` to exist (the features are checked when a run starts).

    Raises:
        SpecError: naming the file and the field.
    """
    from jedi_repro.resources import locate
    path = locate(path)  # a relative studies/... path also finds the shipped spec
    if not path.is_file():
        raise SpecError(f'study spec {path}: no such file')
    from jedi_repro.studies.strict_yaml import DuplicateKeyError, strict_load
    try:
        raw = strict_load(path.read_text())
    except DuplicateKeyError as exc:
        raise SpecError(f'study spec {path}: {exc.problem}') from None
    except yaml.YAMLError as exc:
        raise SpecError(f'study spec {path}: not valid YAML ({exc})') from exc
    return parse_spec(raw, path, check_paths=check_paths)


def parse_spec(raw: Any, path: Path, check_paths: bool = True) -> StudySpec:
    """Validate an already-parsed spec mapping (see :func:`load_spec`)."""
    where = f'study spec {path}'
    if not isinstance(raw, dict):
        raise SpecError(f'{where}: the top level must be a mapping of fields')
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise SpecError(f'{where}: unknown field(s) {unknown}; allowed: {sorted(TOP_KEYS)}')

    name = raw.get('name', path.stem)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SpecError(f'{where}: field "name" = {name!r} must be letters, digits, "_", "-", "."')

    if 'base_config' not in raw:
        raise SpecError(f'{where}: field "base_config" is required (e.g. mm_configs/jedi/jedi_default.py)')
    base_config = _resolve_path(str(raw['base_config']), path, f'{where}: field "base_config"')
    if check_paths and not base_config.is_file():
        raise SpecError(f'{where}: field "base_config": {base_config} '
                        f'{"is not a file" if base_config.exists() else "does not exist"}')

    features = Path(expand_vars(str(raw.get('features', DEFAULT_FEATURES)), f'{where}: field "features"'))
    if not features.is_absolute():
        features = (Path.cwd() / features).resolve()

    seeds = raw.get('seeds', [0])
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise SpecError(f'{where}: field "seeds" must be a non-empty list of integers >= 0, got {seeds!r}')
    if len(set(seeds)) != len(seeds):
        raise SpecError(f'{where}: field "seeds" has duplicates: {seeds}')

    cfg_options = raw.get('cfg_options') or {}
    if not isinstance(cfg_options, dict):
        raise SpecError(f'{where}: field "cfg_options" must be a mapping of config keys to values')

    space = parse_space(raw.get('space'), where)
    clash = sorted(set(space) & set(cfg_options))
    if clash:
        raise SpecError(f'{where}: key(s) {clash} are both in "space" and "cfg_options"')
    if 'randomness.seed' in space or 'randomness.seed' in cfg_options:
        raise SpecError(f'{where}: "randomness.seed" is set by field "seeds", not by "space"/"cfg_options"')

    objectives = _parse_objectives(raw, where)
    sampler = _parse_typed(raw.get('sampler', {'type': 'tpe'}), 'sampler', SAMPLERS, {'seed'}, where)
    pruner = _parse_typed(raw.get('pruner', {'type': 'none'}), 'pruner', PRUNERS,
                          {'n_startup_trials', 'n_warmup_steps', 'interval_steps'}, where)
    for k in ('n_startup_trials', 'n_warmup_steps', 'interval_steps'):
        v = pruner.get(k)
        low = 1 if k == 'interval_steps' else 0
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < low):
            raise SpecError(f'{where}: field "pruner.{k}" = {v!r} must be an integer >= {low}')
    if pruner['type'] != 'none' and len(objectives) > 1:
        raise SpecError(f'{where}: field "pruner": pruning needs a single objective, got {len(objectives)}')
    if sampler['type'] in ('grid', 'brute-force'):
        continuous = [k for k, p in space.items() if not p.is_discrete]
        if continuous:
            raise SpecError(f'{where}: field "sampler": a {sampler["type"]} sampler needs discrete '
                            f'parameters; {continuous} are continuous (give "step" or use choices)')
    if sampler.get('seed') is not None and (not isinstance(sampler['seed'], int)
                                            or isinstance(sampler['seed'], bool)):
        raise SpecError(f'{where}: field "sampler.seed" must be an integer')

    budget = raw.get('budget') or {}
    if not isinstance(budget, dict) or set(budget) - {'n_trials', 'timeout_s'}:
        raise SpecError(f'{where}: field "budget" takes only "n_trials" and "timeout_s"')
    n_trials = budget.get('n_trials')
    if n_trials is not None and (not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1):
        raise SpecError(f'{where}: field "budget.n_trials" must be a positive integer')
    timeout_s = budget.get('timeout_s')
    if timeout_s is not None and (not isinstance(timeout_s, (int, float)) or isinstance(timeout_s, bool)
                                  or timeout_s <= 0):
        raise SpecError(f'{where}: field "budget.timeout_s" must be a positive number of seconds')
    if sampler['type'] in ('tpe', 'random') and n_trials is None and timeout_s is None:
        raise SpecError(f'{where}: field "budget": a {sampler["type"]} study needs "n_trials" or "timeout_s"')

    spec = StudySpec(name=name, path=path.resolve(), base_config=base_config, features=features, seeds=seeds,
                     space=space, objectives=objectives, sampler=sampler, pruner=pruner,
                     cfg_options=cfg_options, n_trials=n_trials, timeout_s=timeout_s,
                     description=_description(raw.get('description', ''), where))
    if check_paths:
        check_against_config(spec)
    return spec


def check_against_config(spec: StudySpec) -> None:
    """Every ``cfg_options`` and ``space`` key must be one the base config (or its components) accepts.

    The same check ``jedi train --cfg-options`` makes, so a typo fails before any trial starts, and a
    fusion or KD loss registered by the user is searchable with its own arguments.
    """
    from jedi_repro.engine.train import apply_cfg_options, check_config, load_config
    from jedi_repro.studies.space import representative_values

    where = f'study spec {spec.path}'
    try:
        base = load_config(spec.base_config)
        apply_cfg_options(base, dict(spec.cfg_options))
        check_config(base)
    except JediError as exc:
        raise SpecError(f'{where}: field "cfg_options": {exc}') from exc
    for key, param in spec.space.items():
        for value in representative_values(param):
            cfg = load_config(base)
            try:
                apply_cfg_options(cfg, {key: value})
                check_config(cfg)
            except JediError as exc:
                raise SpecError(f'{where}: field "space.{key}" = {value!r}: {exc}') from exc


def check_against_store(spec: StudySpec) -> None:
    """Before the first trial: the store opens and holds finite values, every objective names one of its
    datasets, and the base config builds (model, batches, optimizer) with ``cfg_options`` and with every
    choice / both ends of every range of the space. Otherwise every trial would fail the same way.
    """
    from jedi_repro.data.feature_store import FeatureStore
    from jedi_repro.engine.train import prepare_config
    from jedi_repro.engine.untrained import untrained_roles
    from jedi_repro.studies.space import representative_values

    where = f'study spec {spec.path}'
    if not (spec.features / 'manifest.json').is_file():
        raise SpecError(f'{where}: field "features": {spec.features} is not a feature store (no '
                        'manifest.json); run `jedi extract` or `jedi demo`, or point "features" elsewhere')
    try:
        store = FeatureStore.open(spec.features, verify=True)
    except JediError as exc:
        raise SpecError(f'{where}: field "features": {exc}') from exc
    with_map = [d for d in store.dataset_names
                if store.dataset(d)['multilabel'] or store.dataset(d)['metric'] == 'mAP']
    for i, o in enumerate(spec.objectives):
        scope = o.metric.split('/')[0]
        if scope != 'mean' and scope not in store.dataset_names:
            raise SpecError(f'{where}: field "objectives[{i}].metric" = {o.metric!r}: the store has no '
                            f'dataset {scope!r} (datasets: {store.dataset_names}, or mean)')
        if o.metric.endswith('/mAP') and (scope not in with_map if scope != 'mean' else not with_map):
            # no trial would ever have the value: every one of them would fail
            which = f'dataset {scope!r} is not one' if scope != 'mean' else 'the store has none'
            raise SpecError(f'{where}: field "objectives[{i}].metric" = {o.metric!r}: mAP is computed only '
                            f'on multi-label datasets or those declaring metric mAP, and {which} (store '
                            f'{spec.features}); use top1, top5 or mean_class')
    cases = [('field "cfg_options"', {})]
    cases += [(f'field "space.{key}" = {value!r}', {key: value})
              for key, param in spec.space.items() for value in representative_values(param)]
    for what, values in cases:
        try:
            cfg, _, _ = prepare_config(spec.base_config, spec.features, workspace.path('.spec_check'),
                                       cfg_options={**spec.cfg_options, **values,
                                                    'randomness.seed': spec.seeds[0]}, check_values=False)
        except JediError as exc:
            raise SpecError(f'{where}: {what}: {exc}') from exc
        untrained = untrained_roles(cfg)
        for i, o in enumerate(spec.objectives):
            if o.metric.split('/')[1] in untrained:
                raise SpecError(f'{where}: field "objectives[{i}].metric" = {o.metric!r}: with {what} the '
                                f'{o.metric.split("/")[1]}s are not trained (no JEDIDistillHook or '
                                'model.beta = 0); choose on a trained role')


def expand_vars(text: str, where: str) -> str:
    """Expand ``${VAR}``; ``${JEDI_HOME}`` is the workspace root even when the variable is unset."""
    def sub(match: re.Match) -> str:
        var = match.group(1)
        if var == 'JEDI_HOME':
            return str(workspace.root())
        if var not in os.environ:
            raise SpecError(f'{where}: environment variable ${{{var}}} is not set')
        return os.environ[var]
    return os.path.expanduser(re.sub(r'\$\{([A-Za-z_][A-Za-z0-9_]*)\}', sub, text))


def _resolve_path(text: str, spec_path: Path, where: str) -> Path:
    """Absolute as is; relative: the first that exists of cwd, the spec's dir, the spec dir's parent, the
    shipped files (``jedi_repro.resources``: ``mm_configs/...`` works installed from a wheel too)."""
    p = Path(expand_vars(text, where))
    if p.is_absolute():
        return p
    from jedi_repro.resources import shipped
    candidates = [Path.cwd() / p, spec_path.parent / p, spec_path.parent.parent / p, shipped(p)]
    for c in candidates:
        if c.exists():
            return c.resolve()
    return candidates[2].resolve()


def _parse_objectives(raw: dict, where: str) -> list[Objective]:
    if 'objective' in raw and 'objectives' in raw:
        raise SpecError(f'{where}: give either "objective" or "objectives", not both')
    items = raw.get('objectives', raw.get('objective', {'metric': 'mean/teacher/primary'}))
    items = items if isinstance(items, list) else [items]
    if not items:
        raise SpecError(f'{where}: field "objectives" is empty')
    out = []
    for i, item in enumerate(items):
        fld = f'objectives[{i}]'
        if isinstance(item, str):
            item = {'metric': item}
        if not isinstance(item, dict) or set(item) - {'metric', 'direction'} or 'metric' not in item:
            raise SpecError(f'{where}: field "{fld}" must be {{metric: ..., direction: maximize|minimize}}')
        metric = str(item['metric'])
        if metric.startswith('test/'):
            raise SpecError(f'{where}: field "{fld}.metric" = {metric!r}: objectives are read on the '
                            'validation split (the test split is reported, never optimised); write '
                            f'{metric.split("/", 1)[1]!r}')
        if metric.startswith('val/'):
            metric = metric.split('/', 1)[1]
        parts = metric.split('/')
        if len(parts) != 3 or parts[1] not in ROLES or parts[2] not in METRICS:
            raise SpecError(f'{where}: field "{fld}.metric" = {item["metric"]!r} must be '
                            f'{{dataset|mean}}/{{{"|".join(sorted(ROLES))}}}/{{{"|".join(sorted(METRICS))}}}')
        direction = item.get('direction', 'maximize')
        if direction not in DIRECTIONS:
            raise SpecError(f'{where}: field "{fld}.direction" = {direction!r}; use maximize or minimize')
        if any(o.metric == metric for o in out):
            raise SpecError(f'{where}: field "{fld}.metric" = {metric!r} is listed twice')
        out.append(Objective(metric, direction))
    return out


def _description(value: Any, where: str) -> str:
    if value is not None and not isinstance(value, str):
        raise SpecError(f'{where}: field "description" must be text, got {value!r}')
    return value or ''


def _parse_typed(value: Any, fld: str, types: set[str], extra: set[str], where: str) -> dict:
    if isinstance(value, str):
        value = {'type': value}
    if not isinstance(value, dict) or 'type' not in value:
        raise SpecError(f'{where}: field "{fld}" must be a mapping with "type" (one of {sorted(types)})')
    if value['type'] not in types:
        raise SpecError(f'{where}: field "{fld}.type" = {value["type"]!r}; one of {sorted(types)}')
    unknown = sorted(set(value) - {'type'} - extra)
    if unknown:
        raise SpecError(f'{where}: field "{fld}" has unknown key(s) {unknown}; allowed: {sorted(extra)}')
    return dict(value)
