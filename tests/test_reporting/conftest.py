"""Fixtures of the reporting tests: one synthetic MLflow SQLite store and one report, per module."""

import pytest
from reporting_synthetic_runs import DEFAULT_CONFIG, build_optuna_journal, build_store


@pytest.fixture(scope='module')
def store(tmp_path_factory):
    """A SQLite MLflow store with the synthetic studies and an Optuna journal for the search study
    (creating the store costs a few seconds: share it). Returns ``(uri, ids, jedi_home, default_config)``."""
    root = tmp_path_factory.mktemp('mlflow')
    home = root / 'jedi_work'
    uri = f'sqlite:///{root / "mlflow.db"}'
    (home / 'studies').mkdir(parents=True)
    ids = build_store(uri)
    build_optuna_journal(str(home / 'studies' / 'search.journal'))
    (root / 'jedi_default.py').write_text(DEFAULT_CONFIG)
    return uri, ids, home, root / 'jedi_default.py'


@pytest.fixture(scope='module')
def report_dir(store, tmp_path_factory):
    """The report of all three studies, written once for the module."""
    from jedi_repro.reporting import write_report

    uri, _, home, default_config = store
    out = tmp_path_factory.mktemp('report') / 'demo'
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('JEDI_HOME', str(home))
        write_report(
            out,
            studies=['gamma', 'fusion', 'search', 'labelfrac'],
            title='Synthetic',
            tracking_uri=uri,
            default_config=default_config,
        )
    return out
