"""Reports hold no absolute path of the machine that wrote them (workspace, checkout, home)."""
from pathlib import Path

import pytest
from reporting_synthetic_runs import DEFAULT_CONFIG, build_optuna_journal, build_store

from jedi_repro import workspace
from jedi_repro.workspace import checkout_root, portable_text

CHECKOUT = str(checkout_root())


def test_portable_text_rewrites_workspace_checkout_and_uris(tmp_path):
    ws = tmp_path / 'jedi_work'
    text = (f'sqlite:///{ws}/mlflow/mlflow.db {ws}/studies/s.journal {CHECKOUT}/mm_configs/jedi/x.py '
            f'file://{CHECKOUT}/studies/a.yaml {CHECKOUT} {ws}x {ws}')
    assert portable_text(text, workspace_root=ws) == (
        'sqlite:///$JEDI_HOME/mlflow/mlflow.db $JEDI_HOME/studies/s.journal mm_configs/jedi/x.py '
        f'studies/a.yaml . {ws}x $JEDI_HOME')  # a sibling that only shares the prefix is left alone


def test_checkout_root_is_the_checkout():
    assert (checkout_root() / 'mm_configs' / 'jedi' / 'jedi_default.py').is_file()


def test_portable_text_prefers_the_workspace_inside_the_checkout():
    ws = Path(CHECKOUT) / 'jedi_work'
    assert portable_text(f'{ws}/features/demo and {CHECKOUT}/studies/fusion.yaml', workspace_root=ws) == \
        '$JEDI_HOME/features/demo and studies/fusion.yaml'


@pytest.mark.integration
def test_generated_report_holds_no_absolute_path(tmp_path):
    from jedi_repro.reporting import write_report

    # everything in a tmp workspace: the default MLflow URI, the journals, a config and the spec paths
    build_store(workspace.mlflow_uri())
    build_optuna_journal(str(workspace.journal_path('search')))
    config = workspace.path('configs', mkdir=True) / 'jedi_default.py'
    config.write_text(DEFAULT_CONFIG)
    out = workspace.path('reports') / 'synthetic'
    write_report(out, studies=['gamma', 'fusion', 'search'], title='Synthetic', default_config=config,
                 argv=['jedi', 'report', '--study', 'gamma', '--out', str(out)])
    md = (out / 'report.md').read_text()
    assert str(tmp_path) not in md and CHECKOUT not in md
    assert 'sqlite:///$JEDI_HOME/mlflow/mlflow.db' in md or '$JEDI_HOME/studies/search.journal' in md
    assert '--out $JEDI_HOME/reports/synthetic' in md and '$JEDI_HOME/configs/jedi_default.py' in md
    for table in (out / 'tables').iterdir():
        assert str(tmp_path) not in table.read_text()
