"""`jedi train`: train JEDI students and teachers on a feature store."""
from jedi_repro.cli._stub import register_stub


def register(sub):
    register_stub(sub, 'train', 'Train JEDI students and teachers on a feature store')
