"""Read seed runs from MLflow (docs/ARCHITECTURE.md, "MLflow schema") and group them into configurations.

A configuration is one setting of the hyper-parameters, run with several seeds. Seed runs are grouped by
their trial parent (``mlflow.parentRunId`` pointing at a ``jedi.role=trial`` run); a seed run without a
trial parent (a lone ``jedi train``) is grouped with the lone runs whose parameters are equal once every
seed-like parameter (``*.seed``, ``work_dir``) is left out, or, when it logged no parameters, by its
``jedi.config_hash`` tag. Seeds of a trial that ended pruned (KILLED) or FAILED are left out, so a
configuration is never shown with a partial set of seeds chosen by the pruner; the report says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jedi_repro.errors import JediError

ROLES = ('expert', 'student', 'teacher')
#: Last key components of parameters that differ between the seeds of one configuration
#: (``randomness.seed``, ``train_dataloader.dataset.seed``, ``work_dir``).
SEED_PARAMS = ('seed', 'work_dir')


def is_seed_param(key: str) -> bool:
    """True for a parameter that only selects the seed or the run's directory."""
    return key.rsplit('.', 1)[-1] in SEED_PARAMS


#: Tag names of the schema.
T_ROLE, T_STUDY, T_TRIAL, T_SEED = 'jedi.role', 'jedi.study', 'jedi.trial', 'jedi.seed'
T_GIT, T_FEATURES, T_CONFIG, T_DMETRICS = (
    'jedi.git_sha',
    'jedi.features_hash',
    'jedi.config_hash',
    'jedi.dataset_metrics',
)
T_PARENT = 'mlflow.parentRunId'
T_UNTRAINED = 'jedi.untrained'  # written by jedi_repro.tracking.runs (engine/untrained.py)


class RunSelectionError(JediError):
    """A study, experiment or run that does not exist, or runs that cannot be reported."""


@dataclass
class SeedRun:
    """One training run (one seed) with its final metrics.

    Args:
        run_id: MLflow run id.
        study: the study (experiment) it belongs to.
        seed: the seed (``jedi.seed`` tag, else the ``randomness.seed`` param), None if unknown.
        params: MLflow params, parsed (numbers, booleans) where they parse.
        tags: MLflow tags.
        final: ``{(dataset, role, metric): value}`` from the ``test/...`` keys, else the last ``val/...``.
        split: which split ``final`` came from ('test' or 'val').
        parent_id: ``mlflow.parentRunId`` or None.
        val: ``{(dataset, role, metric): value}`` from the latest ``val/...`` keys: the validation metrics
            of the tested checkpoints (what every choice in a report is made on).
    """

    run_id: str
    study: str
    seed: int | None
    params: dict[str, Any]
    tags: dict[str, str]
    final: dict[tuple[str, str, str], float]
    split: str
    parent_id: str | None = None
    val: dict[tuple[str, str, str], float] = field(default_factory=dict)

    @property
    def converged(self) -> bool | None:
        """The ``jedi.converged`` tag: True, False, or None when the run did not record it."""
        v = self.tags.get('jedi.converged')
        return None if v is None else v == 'true'


@dataclass
class Configuration:
    """Seed runs that share every hyper-parameter but the seed.

    Args:
        key: a stable identifier (the trial run id, or a hash of the parameters).
        study: the study it belongs to.
        trial: the trial number (``jedi.trial``) or None for lone runs.
        trial_run_id: the trial run id, or None.
        params: the parameters shared by all its seeds (and the trial run's searched parameters).
        seeds: the seed runs, sorted by seed.
        baseline: the only configuration of a one-point study (its parent run's `study.kind` param is
            `baseline`): labelled by the study's name.
    """

    key: str
    study: str
    trial: str | None
    trial_run_id: str | None
    params: dict[str, Any]
    seeds: list[SeedRun] = field(default_factory=list)
    baseline: bool = False  # the only configuration of a one-point study (parent param study.kind)

    @property
    def untrained_roles(self) -> set[str]:
        """Roles none of its seeds trained (``jedi.untrained`` tag: the student-only baseline's teachers)."""
        if not self.seeds:
            return set()
        sets = [set(filter(None, s.tags.get(T_UNTRAINED, '').split(','))) for s in self.seeds]
        return set.intersection(*sets)

    @property
    def label(self) -> str:
        if self.baseline:  # named for what it is, not like the ablation point that shares its values
            return self.study
        if self.trial is not None:
            return f'{self.study} trial {self.trial}'
        return f'{self.study} {self.key.split(":")[-1][:8]}'


@dataclass
class RunSet:
    """Everything a report is built from.

    Args:
        configurations: the configurations, in study then trial order.
        datasets: ``{dataset: metric}`` (the metric shown per dataset), in the schema's order.
        studies: the study names in the order they were asked for.
        notes: things the reader must know (excluded runs, fallbacks), one sentence each.
        parents: study (parent) runs by study name, when present.
        source: how the runs were selected (for provenance), e.g. ``--study gamma``.
    """

    configurations: list[Configuration]
    datasets: dict[str, str]
    studies: list[str]
    notes: list[str]
    parents: dict[str, Any]
    source: list[str]


def parse_param(value: str) -> Any:
    """MLflow stores params as strings; turn numbers, booleans and None back into values."""
    if not isinstance(value, str):
        return value
    low = value.strip().lower()
    if low in ('true', 'false'):
        return low == 'true'
    if low in ('none', 'null'):
        return None
    try:
        return int(value)
    except ValueError:
        pass
    try:
        f = float(value)
    except ValueError:
        return value
    return f if math.isfinite(f) else value


def parse_metric_key(key: str) -> tuple[str, str, str, str] | None:
    """``{split}/{dataset}/{role}/{metric}`` -> its four parts; None for keys of another shape."""
    parts = key.split('/')
    if len(parts) != 4 or parts[2] not in ROLES:
        return None
    return parts[0], parts[1], parts[2], parts[3]


def split_metrics(run_id: str, metrics: dict[str, float]) -> dict[str, dict]:
    """``{split: {(dataset, role, metric): value}}`` of a run's ``{split}/...`` metric keys."""
    by_split: dict[str, dict] = {}
    for key, value in metrics.items():
        parsed = parse_metric_key(key)
        if parsed is None:
            continue
        split, dataset, role, metric = parsed
        if value is None or not math.isfinite(float(value)):
            raise RunSelectionError(
                f'MLflow run {run_id}: metric {key!r} is {value}; a non-finite final '
                'metric means the run failed, remove or fix the run'
            )
        by_split.setdefault(split, {})[(dataset, role, metric)] = float(value)
    return by_split


def final_metrics(run_id: str, metrics: dict[str, float]) -> tuple[dict, str]:
    """The final per-(dataset, role, metric) values of a seed run and the split they come from.

    ``test/...`` keys when there are any (the schema's final metrics), else the latest ``val/...`` value.
    """
    return _final_of(split_metrics(run_id, metrics))


def _final_of(by_split: dict[str, dict]) -> tuple[dict, str]:
    for split in ('test', 'val'):
        if by_split.get(split):
            return by_split[split], split
    return {}, ''


def dataset_metrics_of(run_id: str, tags: dict[str, str], final: dict) -> dict[str, str]:
    """``{dataset: 'top1'|'mAP'}`` from the ``jedi.dataset_metrics`` tag, else guessed from the keys."""
    raw = tags.get(T_DMETRICS)
    if raw:
        try:
            dm = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RunSelectionError(
                f'MLflow run {run_id}: tag {T_DMETRICS} is not JSON ({exc}): {raw!r}'
            ) from None
        if not isinstance(dm, dict) or not all(isinstance(v, str) for v in dm.values()):
            raise RunSelectionError(
                f'MLflow run {run_id}: tag {T_DMETRICS} must map dataset -> "top1"|"mAP", got {raw!r}'
            )
        return dict(dm)
    names = sorted({d for d, _, _ in final if d != 'mean'})
    return {d: ('mAP' if (d, 'student', 'mAP') in final else 'top1') for d in names}


class MlflowRuns:
    """Thin adapter over ``MlflowClient``: finds runs by study, experiment or id.

    Args:
        tracking_uri: the MLflow tracking URI (default: ``jedi_repro.workspace.mlflow_uri()``).
    """

    def __init__(self, tracking_uri: str | None = None):
        from mlflow import MlflowClient

        from jedi_repro import workspace
        from jedi_repro.tracking.client import ensure_store

        self.uri = tracking_uri or workspace.mlflow_uri()
        if self.uri.startswith('sqlite:///') and not Path(self.uri[len('sqlite:///'):]).is_file():
            raise RunSelectionError(f'no MLflow database at {self.uri[len("sqlite:///"):]}: nothing has been '
                                    'tracked in this workspace yet (run `jedi study run` or `jedi demo`, or '
                                    'set JEDI_HOME / MLFLOW_TRACKING_URI)')
        ensure_store(self.uri)
        self.client = MlflowClient(tracking_uri=self.uri)

    def experiment_runs(self, name: str) -> list:
        exp = self.client.get_experiment_by_name(name)
        if exp is None:
            known = sorted(e.name for e in self.client.search_experiments())
            raise RunSelectionError(
                f'no MLflow experiment (study) named {name!r} at {self.uri}; '
                f'known experiments: {", ".join(known) or "none"}'
            )
        return self._search([exp.experiment_id], '')

    def _search(self, experiment_ids: list[str], filter_string: str) -> list:
        runs, token = [], None
        while True:
            page = self.client.search_runs(experiment_ids, filter_string, max_results=1000, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def get_run(self, run_id: str):
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_run(run_id)
        except MlflowException as exc:
            raise RunSelectionError(
                f'no MLflow run with id {run_id!r} at {self.uri} ({exc.message})'
            ) from None

    def children(self, run) -> list:
        return self._search([run.info.experiment_id], f"tags.`{T_PARENT}` = '{run.info.run_id}'")

    def expand(self, run_ids: Iterable[str]) -> list:
        """The given runs with their descendants (study -> trials -> seeds)."""
        out, seen, todo = [], set(), [self.get_run(r) for r in run_ids]
        while todo:
            run = todo.pop()
            if run.info.run_id in seen:
                continue
            seen.add(run.info.run_id)
            out.append(run)
            if run.data.tags.get(T_ROLE) in ('study', 'trial'):
                todo.extend(self.children(run))
        return out

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        return sorted((m.step, m.value) for m in self.client.get_metric_history(run_id, key))

    def experiment_name(self, experiment_id: str) -> str:
        return self.client.get_experiment(experiment_id).name


def _role(run) -> str | None:
    role = run.data.tags.get(T_ROLE)
    if role:
        return role
    # Untagged runs that carry metrics of the schema are treated as seed runs (lone ``jedi train``).
    return 'seed' if any(parse_metric_key(k) for k in run.data.metrics) else None


def _seed_of(run, params: dict) -> int | None:
    for raw in (run.data.tags.get(T_SEED), params.get('randomness.seed'), params.get('seed')):
        if raw is None or raw == '':
            continue
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise RunSelectionError(f'MLflow run {run.info.run_id}: seed {raw!r} is not an integer') from None
    return None


def _params_key(params: dict) -> str:
    import hashlib

    kept = {k: v for k, v in sorted(params.items()) if not is_seed_param(k)}
    return 'params:' + hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


def build_run_set(
    runs: list, experiment_names: dict[str, str], studies: list[str], source: list[str]
) -> RunSet:
    """Group MLflow runs into configurations (pure: no MLflow calls).

    Args:
        runs: ``mlflow.entities.Run`` objects (any roles; study and trial runs give context).
        experiment_names: experiment id -> name.
        studies: the study names, in the order the user asked for them.
        source: how the runs were selected (for provenance).
    """
    notes: list[str] = []
    by_id = {r.info.run_id: r for r in runs}
    trials = {rid: r for rid, r in by_id.items() if _role(r) == 'trial'}
    parents = {}
    for r in by_id.values():
        if _role(r) == 'study':
            parents[r.data.tags.get(T_STUDY) or experiment_names[r.info.experiment_id]] = r
    seeds: list[SeedRun] = []
    skipped: dict[str, int] = {}
    datasets: dict[str, str] = {}
    for r in sorted(by_id.values(), key=lambda r: (r.info.start_time or 0, r.info.run_id)):
        if _role(r) != 'seed':
            continue
        trial = trials.get(r.data.tags.get(T_PARENT, ''))
        if trial is not None and trial.info.status in ('KILLED', 'FAILED'):
            why = 'of pruned (KILLED) trials' if trial.info.status == 'KILLED' else 'of failed trials'
            skipped[why] = skipped.get(why, 0) + 1
            continue
        if r.info.status != 'FINISHED':
            skipped[r.info.status] = skipped.get(r.info.status, 0) + 1
            continue
        params = {k: parse_param(v) for k, v in r.data.params.items()}
        by_split = split_metrics(r.info.run_id, r.data.metrics)
        final, split = _final_of(by_split)
        if not final:
            skipped['without final metrics'] = skipped.get('without final metrics', 0) + 1
            continue
        for d, m in dataset_metrics_of(r.info.run_id, r.data.tags, final).items():
            if datasets.setdefault(d, m) != m:
                raise RunSelectionError(
                    f'MLflow run {r.info.run_id}: tag {T_DMETRICS} gives {d!r} the metric '
                    f'{m!r}, other runs {datasets[d]!r}; a report compares one metric'
                )
        study = r.data.tags.get(T_STUDY) or experiment_names[r.info.experiment_id]
        seeds.append(
            SeedRun(
                r.info.run_id,
                study,
                _seed_of(r, params),
                params,
                dict(r.data.tags),
                final,
                split,
                r.data.tags.get(T_PARENT),
                by_split.get('val', {}),
            )
        )
    for status, n in sorted(skipped.items()):
        status = status if status.startswith(('of ', 'without')) else status.lower()
        notes.append(f'{n} seed run(s) {status} were left out.')
    if not seeds:
        raise RunSelectionError(
            f'no finished seed runs with final metrics in {", ".join(source)}; run a '
            'study (jedi study run SPEC) or jedi train first'
        )
    if any(s.split == 'val' for s in seeds):
        notes.append('Some runs logged no test/ metrics: their last val/ epoch is reported instead.')

    configs: dict[str, Configuration] = {}
    for s in seeds:
        trial = trials.get(s.parent_id) if s.parent_id else None
        if trial is not None:
            key = trial.info.run_id
            tnum = trial.data.tags.get(T_TRIAL) or s.tags.get(T_TRIAL) or None
            tparams = {k: parse_param(v) for k, v in trial.data.params.items() if not is_seed_param(k)}
        else:
            # parameters first: jedi.config_hash may include seed-like keys (train_dataloader.dataset.seed)
            if s.params:
                key = _params_key(s.params)
            else:
                key = ('config:' + s.tags[T_CONFIG]) if s.tags.get(T_CONFIG) else 'run:' + s.run_id
            tnum, tparams = s.tags.get(T_TRIAL) or None, {}
        c = configs.get(key)
        if c is None:
            c = configs[key] = Configuration(
                key, s.study, tnum, trial.info.run_id if trial else None, tparams
            )
        c.seeds.append(s)
    for c in configs.values():
        parent = parents.get(c.study)
        c.baseline = parent is not None and parent.data.params.get('study.kind') == 'baseline'
        common = {
            k: v
            for k, v in c.seeds[0].params.items()
            if not is_seed_param(k) and all(o.params.get(k) == v for o in c.seeds[1:])
        }
        c.params = {**common, **c.params}
        c.seeds.sort(key=lambda s: (s.seed is None, s.seed if s.seed is not None else 0, s.run_id))
        seen = [s.seed for s in c.seeds if s.seed is not None]
        if len(seen) != len(set(seen)):
            notes.append(f'{c.label}: several runs share a seed ({sorted(seen)}); each run counts once.')

    order = {name: i for i, name in enumerate(studies)}

    def trial_order(c: Configuration):
        t = parse_param(c.trial) if c.trial is not None else None
        return (
            order.get(c.study, len(order)),
            c.study,
            not isinstance(t, int),
            t if isinstance(t, int) else 0,
            c.key,
        )

    for name in studies:
        if not any(c.study == name for c in configs.values()):
            notes.append(f'Study {name!r} has no finished seed runs.')
    all_studies = list(studies) + sorted({c.study for c in configs.values()} - set(studies))
    return RunSet(sorted(configs.values(), key=trial_order), datasets, all_studies, notes, parents, source)


def load_run_set(
    studies: list[str] | None = None,
    experiment: str | None = None,
    run_ids: list[str] | None = None,
    tracking_uri: str | None = None,
) -> tuple[RunSet, MlflowRuns]:
    """Find the runs of studies (experiments named after them), of one experiment, or given by id.

    Raises:
        RunSelectionError: a study, experiment or run id that does not exist, or no usable runs.
    """
    chosen = [bool(studies), experiment is not None, bool(run_ids)]
    if sum(chosen) != 1:
        raise RunSelectionError(
            'choose exactly one of studies=[...], experiment=... or run_ids=[...] '
            '(--study, --experiment, --runs)'
        )
    src = MlflowRuns(tracking_uri)
    if studies:
        runs, names, source = [], list(studies), [f'--study {s}' for s in studies]
        for s in studies:
            runs.extend(src.experiment_runs(s))
    elif experiment is not None:
        runs, names, source = src.experiment_runs(experiment), [experiment], [f'--experiment {experiment}']
    else:
        runs = src.expand(run_ids)
        names, source = [], ['--runs ' + ' '.join(run_ids)]
    exp_names = {eid: src.experiment_name(eid) for eid in {r.info.experiment_id for r in runs}}
    if run_ids:
        names = sorted({r.data.tags.get(T_STUDY) or exp_names[r.info.experiment_id] for r in runs})
    return build_run_set(runs, exp_names, names, source), src
