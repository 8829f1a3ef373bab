"""`jedi extract`: run the frozen experts over every dataset into a feature store."""
from jedi_repro.cli._stub import register_stub


def register(sub):
    register_stub(sub, 'extract', 'Run the frozen experts over every dataset into a feature store')
