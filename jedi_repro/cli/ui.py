"""`jedi ui`: start the MLflow UI on the workspace database."""
from jedi_repro.cli._stub import register_stub


def register(sub):
    register_stub(sub, 'ui', 'Start the MLflow UI on the workspace database')
