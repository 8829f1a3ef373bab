"""`jedi report`: write a Markdown report (tables, statistics, figures) from MLflow runs."""
from jedi_repro.cli._stub import register_stub


def register(sub):
    register_stub(sub, 'report', 'Write a Markdown report (tables, statistics, figures) from MLflow runs')
