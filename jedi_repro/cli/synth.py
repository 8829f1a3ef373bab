"""`jedi synth`: render the embedded synthetic multi-domain video benchmark."""
from jedi_repro.cli._stub import register_stub


def register(sub):
    register_stub(sub, 'synth', 'Render the embedded synthetic multi-domain video benchmark')
