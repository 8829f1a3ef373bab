"""Search spaces: spec entries -> Optuna distributions, grid enumeration, and suggestion.

The Optuna parameter name is the config key itself (``model.gamma``), so trial params are the
``cfg_options`` handed to ``train``. Choices that are not scalars (lists, e.g. ``data.unlabeled_datasets``)
travel through Optuna as JSON strings and are decoded back.
"""
from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from typing import Any

from jedi_repro.errors import JediError

TYPES = {'grid', 'choices', 'float', 'int', 'log'}
_SCALARS = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class ParamSpec:
    """One searched config key.

    Args:
        key: the config key (also the Optuna parameter name).
        type: grid | choices (categorical), float, int, log (float on a log scale).
        values: the values of grid/choices.
        low, high, step, log: the range of float/int/log.
    """
    key: str
    type: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False

    @property
    def is_discrete(self) -> bool:
        return self.type in ('grid', 'choices', 'int') or (self.type == 'float' and self.step is not None)

    @property
    def encoded(self) -> bool:
        """Whether the choices go through Optuna as JSON strings."""
        return any(not isinstance(v, _SCALARS) for v in self.values)

    def distribution(self):
        """The Optuna distribution of this parameter."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
        if self.type in ('grid', 'choices'):
            return CategoricalDistribution(self.choices())
        if self.type == 'int':
            return IntDistribution(int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return FloatDistribution(float(self.low), float(self.high), step=self.step,
                                 log=self.log or self.type == 'log')

    def choices(self) -> list:
        return [json.dumps(v) for v in self.values] if self.encoded else list(self.values)

    def grid_values(self) -> list:
        """Every value of a discrete parameter, in Optuna's (encoded) form."""
        if self.type in ('grid', 'choices'):
            return self.choices()
        step = self.step or 1
        n = int(math.floor((self.high - self.low) / step + 1e-9)) + 1
        if self.type == 'int':
            return [int(self.low) + i * int(step) for i in range(n)]
        return [round(self.low + i * step, 12) for i in range(n)]

    def decode(self, value: Any) -> Any:
        """Optuna's value -> the config value."""
        return json.loads(value) if self.encoded else value


def parse_space(raw: Any, where: str) -> dict[str, ParamSpec]:
    """Validate the ``space`` field: ``{config_key: {type: ..., ...}}``.

    Args:
        raw: the parsed YAML value.
        where: ``study spec <path>`` for messages.
    """
    if raw is None:
        raise JediError(f'{where}: field "space" is required (a mapping of config keys to ranges)')
    if not isinstance(raw, dict) or not raw:
        raise JediError(f'{where}: field "space" must be a non-empty mapping of config keys to ranges')
    return {str(key): parse_param(str(key), entry, where) for key, entry in raw.items()}


def parse_param(key: str, entry: Any, where: str) -> ParamSpec:
    fld = f'{where}: field "space.{key}"'
    if isinstance(entry, list):  # shorthand: a list is a grid
        entry = {'type': 'grid', 'values': entry}
    if not isinstance(entry, dict) or entry.get('type') not in TYPES:
        raise JediError(f'{fld} must be a mapping with "type" in {sorted(TYPES)}')
    kind = entry['type']
    if kind in ('grid', 'choices'):
        _only(entry, {'type', 'values'}, fld)
        values = entry.get('values')
        if not isinstance(values, list) or not values:
            raise JediError(f'{fld}.values must be a non-empty list')
        enc = [json.dumps(v, sort_keys=True) for v in values]
        if len(set(enc)) != len(enc):
            raise JediError(f'{fld}.values has duplicates: {values}')
        return ParamSpec(key, kind, values=tuple(_freeze(v) for v in values))
    _only(entry, {'type', 'low', 'high', 'step', 'log'}, fld)
    low, high, step = entry.get('low'), entry.get('high'), entry.get('step')
    for name, v in (('low', low), ('high', high)):
        if not _is_num(v):
            raise JediError(f'{fld}.{name} must be a number, got {v!r}')
    if step is not None and (not _is_num(step) or step <= 0):
        raise JediError(f'{fld}.step must be a positive number, got {step!r}')
    if not low < high:
        raise JediError(f'{fld}: low ({low}) must be below high ({high})')
    log = bool(entry.get('log', kind == 'log'))
    if log and low <= 0:
        raise JediError(f'{fld}: a log range needs low > 0, got {low}')
    if log and step is not None:
        raise JediError(f'{fld}: "step" and a log scale cannot be combined')
    if kind == 'int' and not all(float(v).is_integer() for v in (low, high, step or 1)):
        raise JediError(f'{fld}: an int range needs integer low/high/step')
    return ParamSpec(key, kind, low=low, high=high, step=step, log=log)


def representative_values(param: ParamSpec) -> list[Any]:
    """Values that exercise a parameter's config key: every choice, or both ends of a range."""
    return list(param.values) if param.type in ('grid', 'choices') else [param.low, param.high]


def grid_points(space: dict[str, ParamSpec]) -> list[dict[str, Any]]:
    """The full grid (cartesian product, keys in spec order) in Optuna's encoded form."""
    keys = list(space)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(space[k].grid_values() for k in keys))]


def grid_key(params: dict[str, Any]) -> str:
    """A canonical string naming one grid point (used to find duplicates and missing points)."""
    return json.dumps({k: params[k] for k in sorted(params)}, sort_keys=True)


def suggest(trial, space: dict[str, ParamSpec]) -> dict[str, Any]:
    """Ask ``trial`` for every parameter and return the decoded ``cfg_options``."""
    out = {}
    for key, p in space.items():
        if p.type in ('grid', 'choices'):
            value = trial.suggest_categorical(key, p.choices())
        elif p.type == 'int':
            value = trial.suggest_int(key, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
        else:
            value = trial.suggest_float(key, float(p.low), float(p.high), step=p.step,
                                        log=p.log or p.type == 'log')
        out[key] = p.decode(value)
    return out


def decode(space: dict[str, ParamSpec], params: dict[str, Any]) -> dict[str, Any]:
    """Optuna params -> config values."""
    return {k: space[k].decode(v) if k in space else v for k, v in params.items()}


def _freeze(v: Any) -> Any:
    return tuple(_freeze(x) for x in v) if isinstance(v, list) else v


def _only(entry: dict, allowed: set[str], fld: str) -> None:
    extra = sorted(set(entry) - allowed)
    if extra:
        raise JediError(f'{fld}: unknown key(s) {extra}; allowed: {sorted(allowed)}')


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
