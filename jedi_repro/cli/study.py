"""`jedi study`: run and inspect Optuna ablation and search studies."""
from jedi_repro.cli._stub import register_stub


def register(sub):
    register_stub(sub, 'study', 'Run and inspect Optuna ablation and search studies')
