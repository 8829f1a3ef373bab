"""`jedi bench`: real-data benchmarks (YouTube-8M features)."""
from jedi_repro.cli._stub import register_stub


def register(sub):
    register_stub(sub, 'bench', 'Real-data benchmarks (YouTube-8M features)')
