"""A synthetic MLflow store following docs/ARCHITECTURE.md's schema, with known final values.

Two studies, each with a parent run, two trial runs and three seed runs per trial; datasets ``alpha``
(top-1) and ``beta`` (mAP). Values are chosen so that the report's cells can be computed by hand.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, Param

DATASETS = {'alpha': 'top1', 'beta': 'mAP'}
SEEDS = (0, 1, 2)
EXPERT = {'alpha': 0.60, 'beta': 0.50}  # frozen experts: the same on every seed
# the paper configuration (gamma 0.4, concat): per dataset, per role, one value per seed
PAPER = {
    'alpha': {'student': (0.62, 0.64, 0.63), 'teacher': (0.70, 0.70, 0.70)},
    'beta': {'student': (0.50, 0.51, 0.49), 'teacher': (0.55, 0.57, 0.56)},
}
GAMMA0 = {  # gamma = 0: no distillation
    'alpha': {'student': (0.61, 0.60, 0.59), 'teacher': (0.66, 0.65, 0.67)},
    'beta': {'student': (0.50, 0.50, 0.50), 'teacher': (0.52, 0.53, 0.51)},
}
MEANFUSION = {
    'alpha': {'student': (0.61, 0.62, 0.66), 'teacher': (0.64, 0.65, 0.69)},
    'beta': {'student': (0.52, 0.50, 0.51), 'teacher': (0.54, 0.52, 0.53)},
}
EPOCHS = 3
# a search over two dimensions, two seeds per trial: (searched params, values)
SEARCH = [
    (
        {'model.gamma': 0.2, 'model.kd_loss.type': 'kl'},
        {
            'alpha': {'student': (0.61, 0.62), 'teacher': (0.65, 0.66)},
            'beta': {'student': (0.50, 0.51), 'teacher': (0.52, 0.53)},
        },
    ),
    (
        {'model.gamma': 0.4, 'model.kd_loss.type': 'ce'},
        {
            'alpha': {'student': (0.64, 0.66), 'teacher': (0.70, 0.71)},
            'beta': {'student': (0.52, 0.52), 'teacher': (0.55, 0.56)},
        },
    ),
    (
        {'model.gamma': 0.8, 'model.kd_loss.type': 'mse'},
        {
            'alpha': {'student': (0.58, 0.60), 'teacher': (0.62, 0.63)},
            'beta': {'student': (0.49, 0.48), 'teacher': (0.50, 0.51)},
        },
    ),
]
# a full grid over the labelled fraction and gamma, two seeds each: {(fraction, gamma): values}
LABELFRAC = {
    (0.1, 0.0): {
        'alpha': {'student': (0.55, 0.57), 'teacher': (0.58, 0.60)},
        'beta': {'student': (0.45, 0.47), 'teacher': (0.48, 0.48)},
    },
    (0.1, 0.4): {
        'alpha': {'student': (0.59, 0.60), 'teacher': (0.62, 0.64)},
        'beta': {'student': (0.49, 0.50), 'teacher': (0.51, 0.52)},
    },
    (1.0, 0.0): {
        'alpha': {'student': (0.60, 0.61), 'teacher': (0.66, 0.66)},
        'beta': {'student': (0.50, 0.51), 'teacher': (0.52, 0.54)},
    },
    (1.0, 0.4): {
        'alpha': {'student': (0.63, 0.64), 'teacher': (0.69, 0.70)},
        'beta': {'student': (0.51, 0.52), 'teacher': (0.55, 0.56)},
    },
}
#: the config that defines the paper configuration in the tests (not the shipped one, which may change)
DEFAULT_CONFIG = """\
model = dict(alpha=1.0, beta=1.0, gamma=0.4, fusion=dict(type='concat'), kd_loss=dict(type='ce'))
data = dict(labeled_fraction=1.0)
"""


def _final(values: dict, seed_index: int) -> dict[str, float]:
    out = {}
    for d, metric in DATASETS.items():
        out[f'test/{d}/expert/{metric}'] = EXPERT[d]
        for role in ('student', 'teacher'):
            out[f'test/{d}/{role}/{metric}'] = values[d][role][seed_index]
    return out


def _log_seed(client, exp_id, parent_id, study, trial, seed_index, params, values, now):
    seed = SEEDS[seed_index]
    params = {'model.kd_loss.type': 'ce', **params}
    run = client.create_run(
        exp_id,
        tags={
            'mlflow.parentRunId': parent_id,
            'jedi.role': 'seed',
            'jedi.study': study,
            'jedi.trial': str(trial),
            'jedi.seed': str(seed),
            'jedi.git_sha': 'abc1234',
            'jedi.features_hash': 'f' * 64,
            'jedi.config_hash': f'cfg-{study}-{trial}',
            'jedi.dataset_metrics': json.dumps(DATASETS),
        },
    )
    rid = run.info.run_id
    final = _final(values, seed_index)
    metrics = [Metric(k, v, now, 0) for k, v in final.items()]
    for epoch in range(1, EPOCHS + 1):  # val curve rises to the final value
        for k, v in final.items():
            metrics.append(Metric('val/' + k[5:], v - 0.02 * (EPOCHS - epoch), now + epoch, epoch))
    p = {**params, 'randomness.seed': seed, 'work_dir': f'/tmp/w/{study}/{trial}/{seed}'}
    client.log_batch(rid, metrics=metrics, params=[Param(k, str(v)) for k, v in p.items()])
    client.set_terminated(rid)
    return rid


def artifact_location(uri: str, experiment: str) -> str:
    """Artifacts beside the SQLite database (MLflow's default is ./mlruns under the current directory)."""
    return (Path(uri[len('sqlite:///'):]).parent / 'artifacts' / experiment).as_uri()


def build_store(uri: str) -> dict:
    """Create the two studies; returns ``{study: {trial: trial_run_id}}`` and the parent ids."""
    client = MlflowClient(tracking_uri=uri)
    now = int(time.time() * 1000)
    layout = {
        'gamma': [
            ({'model.gamma': 0.0, 'model.fusion.type': 'concat'}, GAMMA0, {'model.gamma': 0.0}),
            ({'model.gamma': 0.4, 'model.fusion.type': 'concat'}, PAPER, {'model.gamma': 0.4}),
        ],
        'fusion': [
            ({'model.gamma': 0.4, 'model.fusion.type': 'concat'}, PAPER, {'model.fusion.type': 'concat'}),
            ({'model.gamma': 0.4, 'model.fusion.type': 'mean'}, MEANFUSION, {'model.fusion.type': 'mean'}),
        ],
    }
    layout['search'] = [({'model.fusion.type': 'concat', **p}, v, p) for p, v in SEARCH]
    layout['labelfrac'] = [
        (
            {'model.fusion.type': 'concat', 'data.labeled_fraction': f, 'model.gamma': g},
            v,
            {'data.labeled_fraction': f, 'model.gamma': g},
        )
        for (f, g), v in LABELFRAC.items()
    ]
    ids = {'trials': {}, 'parents': {}, 'seeds': {}}
    for study, trials in layout.items():
        exp_id = client.create_experiment(study, artifact_location=artifact_location(uri, study))
        parent = client.create_run(
            exp_id, tags={'jedi.role': 'study', 'jedi.study': study, 'jedi.spec': f'studies/{study}.yaml'}
        )
        ids['parents'][study] = parent.info.run_id
        for trial, (params, values, searched) in enumerate(trials):
            tr = client.create_run(
                exp_id,
                tags={
                    'mlflow.parentRunId': parent.info.run_id,
                    'jedi.role': 'trial',
                    'jedi.study': study,
                    'jedi.trial': str(trial),
                },
            )
            client.log_batch(tr.info.run_id, params=[Param(k, str(v)) for k, v in searched.items()])
            ids['trials'][(study, trial)] = tr.info.run_id
            n_seeds = len(values['alpha']['student'])
            ids['seeds'][(study, trial)] = [
                _log_seed(client, exp_id, tr.info.run_id, study, trial, i, params, values, now)
                for i in range(n_seeds)
            ]
            client.set_terminated(tr.info.run_id)
        client.set_terminated(parent.info.run_id)
    # a failed seed run, which the report must leave out (and say so)
    failed = client.create_run(
        client.get_experiment_by_name('gamma').experiment_id,
        tags={
            'mlflow.parentRunId': ids['trials'][('gamma', 1)],
            'jedi.role': 'seed',
            'jedi.study': 'gamma',
            'jedi.trial': '1',
            'jedi.seed': '3',
        },
    )
    client.set_terminated(failed.info.run_id, status='FAILED')
    return ids


def build_optuna_journal(path: str) -> None:
    """The Optuna side of study ``search``: one completed trial per configuration, objective = the
    students' mean over datasets and seeds."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name='search', direction='maximize', storage=JournalStorage(JournalFileBackend(path))
    )
    dists = {
        'model.gamma': FloatDistribution(0.0, 1.0),
        'model.kd_loss.type': CategoricalDistribution(['ce', 'kl', 'mse']),
    }
    for params, values in SEARCH:
        per_seed = [sum(values[d]['student'][i] for d in DATASETS) / len(DATASETS) for i in range(2)]
        study.add_trial(
            optuna.trial.create_trial(params=params, distributions=dists, value=sum(per_seed) / len(per_seed))
        )
