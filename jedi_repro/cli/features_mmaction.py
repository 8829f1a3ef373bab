"""`jedi features import-mmaction`: read MMAction2 clip_feature_extraction outputs into a feature store."""
from jedi_repro.cli._stub import register_stub


def register(sub):
    register_stub(sub, 'import-mmaction',
                  "Import per-video outputs of MMAction2's clip_feature_extraction tool (needs --trust-pickle)")
