"""The MLflow UI view of a study that answers "which configuration won, by how much".

MLflow 3.17's runs page reads a saved view from the experiment tag ``mlflow.sharedViewState.<key>`` when
its URL carries ``?viewStateShareKey=<key>`` (its "Share" button writes the same tag): the search facets
(``searchFilter``, ``orderByKey``, ``orderByAsc``, ...) and the table's ``selectedColumns``, whose keys are
``metrics.`<key>``` and ``params.`<key>```. A study's experiment gets one such view: its trial runs (one row
per configuration, the mean over seeds), the objective and the main test means as columns, sorted by the
objective. ``jedi ui`` prints its URL.
"""
from __future__ import annotations

import json
from collections.abc import Sequence

from jedi_repro.aggregates import PRIMARY

#: MLflow 3.17's UI is in one of two modes, GenAI (its default, kept per browser) or model training; a
#: link that carries ``workflowType=machine_learning`` opens in the second (runs, not traces)
WORKFLOW = 'workflowType=machine_learning'
#: the share key of the study view (``mlflow.sharedViewState.<key>`` on the experiment)
VIEW_KEY = 'jedi-ranked'
VIEW_TAG_PREFIX = 'mlflow.sharedViewState.'
ROLES = ('student', 'teacher', 'expert')


def column(kind: str, key: str) -> str:
    """A runs-table column as the UI names it: ``metrics.`val/mean/student/primary```."""
    return f'{kind}.`{key}`'


def study_view(objectives: Sequence[tuple[str, str]], params: Sequence[str] = ()) -> dict:
    """The saved view of a study's runs page (keys it leaves out keep the UI's defaults).

    Args:
        objectives: ``[(metric, direction), ...]``; the first sorts the table.
        params: the searched keys (shown as columns after the metrics).
    """
    metric, direction = objectives[0]
    metrics = [f'val/{m}' for m, _ in objectives]
    metrics += [k for k in (f'test/mean/{r}/{PRIMARY}' for r in ROLES) if k not in metrics]
    columns = [column('metrics', m) for m in metrics] + [column('params', p) for p in params]
    return {
        'searchFilter': "tags.`jedi.role` = 'trial'",  # one row per configuration (its mean over seeds)
        'orderByKey': column('metrics', f'val/{metric}'),
        'orderByAsc': direction == 'minimize',
        'selectedColumns': columns,
        'columnOrder': columns,  # the objective first (the UI otherwise sorts metric columns by name)
        'runsHiddenMode': 'SHOW_ALL',
    }


def view_tags(objectives: Sequence[tuple[str, str]], params: Sequence[str] = ()) -> dict[str, str]:
    """The experiment tag that holds the study view."""
    return {VIEW_TAG_PREFIX + VIEW_KEY: json.dumps(study_view(objectives, params))}


def runs_url(base: str, experiment_id: str, shared: bool = True) -> str:
    """The URL of an experiment's runs page in model-training mode, with the study view when ``shared``."""
    url = f'{base.rstrip("/")}/#/experiments/{experiment_id}/runs?{WORKFLOW}'
    return f'{url}&viewStateShareKey={VIEW_KEY}' if shared else url


def run_link(experiment_id: str, run_id: str) -> str:
    """A link to a run's page from a description shown by the UI (relative: the same server)."""
    return f'#/experiments/{experiment_id}/runs/{run_id}?{WORKFLOW}'


def has_view(experiment) -> bool:
    """Whether an MLflow experiment carries the study view."""
    return VIEW_TAG_PREFIX + VIEW_KEY in (experiment.tags or {})
