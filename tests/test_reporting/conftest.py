"""Fixtures of the reporting tests: one synthetic MLflow SQLite store and one report, per module."""
import pytest
from reporting_synthetic_runs import build_store


@pytest.fixture(scope='module')
def mlflow_store(tmp_path_factory):
    """A SQLite MLflow store with the synthetic studies (creating it costs a few seconds: share it)."""
    root = tmp_path_factory.mktemp('mlflow')
    uri = f'sqlite:///{root / "mlflow.db"}'
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('JEDI_HOME', str(root / 'jedi_work'))
        ids = build_store(uri)
    return uri, ids


@pytest.fixture(scope='module')
def report_dir(mlflow_store, tmp_path_factory):
    """The report of both studies, written once for the module."""
    from jedi_repro.reporting import write_report
    uri, _ = mlflow_store
    out = tmp_path_factory.mktemp('report') / 'demo'
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('JEDI_HOME', str(out.parent / 'jedi_work'))
        write_report(out, studies=['gamma', 'fusion'], title='Synthetic', tracking_uri=uri)
    return out
