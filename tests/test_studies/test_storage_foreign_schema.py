"""One PostgreSQL database given to both `jedi server` (MLflow) and `jedi study run --storage`: the study
is refused in one paragraph that says the database holds MLflow's schema, before anything is written."""

import pytest

from jedi_repro.cli import main
from jedi_repro.tracking.postgres import LocalPostgres

from .conftest import require_postgres, write_spec

pytestmark = pytest.mark.integration


def test_a_database_holding_mlflows_schema_is_refused(tmp_path, toy_store, capsys):
    require_postgres()
    from mlflow.tracking import MlflowClient
    with LocalPostgres() as pg:
        url = pg.create_database('shared')
        MlflowClient(url).search_experiments()  # MLflow creates its schema (and alembic_version) there
        import sqlalchemy
        engine = sqlalchemy.create_engine(url)
        before = sorted(sqlalchemy.inspect(engine).get_table_names())
        capsys.readouterr()  # MLflow's own log lines while it created its schema
        spec = write_spec(tmp_path, toy_store, 'name: shared\nsampler: {type: grid}\nspace: {model.gamma: '
                          '{type: grid, values: [0.0]}}\ncfg_options: {train_cfg.max_epochs: 1}\n')
        rc = main(['study', 'run', str(spec), '--storage', url, '--no-progress'])
        err = ' '.join(capsys.readouterr().err.split())
        assert rc == 1 and err.startswith('error: ') and 'Traceback' not in err
        assert url in err and "another application's schema" in err and 'MLflow' in err, err
        assert sorted(sqlalchemy.inspect(engine).get_table_names()) == before  # no Optuna table added
        engine.dispose()
