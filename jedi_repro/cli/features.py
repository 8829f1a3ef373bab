"""`jedi features`: import and inspect feature stores."""
from jedi_repro.cli._stub import register_stub


def register(sub):
    register_stub(sub, 'features', 'Import and inspect feature stores')
