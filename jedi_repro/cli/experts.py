"""`jedi experts`: train MMAction2 expert recognizers, one per dataset."""
from jedi_repro.cli._stub import register_stub


def register(sub):
    register_stub(sub, 'experts', 'Train MMAction2 expert recognizers, one per dataset')
