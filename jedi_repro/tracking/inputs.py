"""Run inputs: the feature store a run trained on, as an MLflow dataset input.

MLflow's runs table shows it in the Dataset column and the run page under "Datasets used", so a run says
which features it read without opening its tags.
"""
from __future__ import annotations

import json
from pathlib import Path

from jedi_repro import workspace

DATASET_DIGEST_LEN = 32  # MLflow's dataset table holds a digest of at most 36 characters (RDB column)


def feature_store_input(features: str | Path):
    """The feature store as an MLflow dataset input: name = the store directory, digest = the first
    ``DATASET_DIGEST_LEN`` hex digits of its content hash (``jedi.features_hash`` holds all of it), source
    = its path relative to the workspace (``$JEDI_HOME/features/...``), profile = datasets and experts.
    The blocks are verified against the manifest first (stamped: a stat per block when unchanged), so the
    digest never names bytes the store no longer holds.

    Returns None for a directory that is not a feature store.
    """
    from mlflow.entities import Dataset, DatasetInput, InputTag

    from jedi_repro.data.feature_store import FeatureStore

    if not (Path(features) / 'manifest.json').is_file():
        return None
    store = FeatureStore.open(features, check_values=False, verify=True)  # the digest of verified bytes
    profile = {'datasets': {d: store.dataset(d)['splits'] for d in store.dataset_names},
               'experts': {e: store.expert(e)['dim'] for e in store.expert_names}}
    experts = [store.expert(e) for e in store.expert_names]
    sources = {e['name']: e['provenance'] for e in experts if e.get('provenance')}
    if sources:
        profile['expert_sources'] = sources
    path = str(Path(store.path).resolve())
    source = json.dumps({'path': workspace.portable_text(path)})
    dataset = Dataset(name=Path(path).name, digest=store.content_hash()[:DATASET_DIGEST_LEN],
                      source_type='jedi_feature_store', source=source,
                      profile=json.dumps(profile))
    return DatasetInput(dataset, tags=[InputTag('mlflow.data.context', 'train')])


#: what a SQL tracking store says when two processes insert the same dataset at once (SQLite, PostgreSQL)
DUPLICATE_MARKERS = ('UNIQUE constraint failed: datasets', 'duplicate key value violates unique constraint')


def log_feature_store_input(client, run_id: str, features: str | Path | None) -> None:
    """Log the feature store as the run's input (the runs table's Dataset column).

    MLflow looks the dataset up, then inserts it: two study workers logging the same store into a new
    experiment at once can both miss it, and the second insert fails. Once the other process's insert is
    in, the same call links the existing dataset, so it is made once more."""
    dataset = feature_store_input(features) if features else None
    if dataset is None:
        return
    try:
        client.log_inputs(run_id, datasets=[dataset])
    except Exception as exc:  # noqa: BLE001 - only the insert race is retried
        if not any(m in str(exc) for m in DUPLICATE_MARKERS):
            raise
        client.log_inputs(run_id, datasets=[dataset])
