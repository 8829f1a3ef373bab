"""`jedi demo`: run the whole pipeline on the embedded benchmark."""
from jedi_repro.cli._stub import register_stub


def register(sub):
    register_stub(sub, 'demo', 'Run the whole pipeline on the embedded benchmark')
