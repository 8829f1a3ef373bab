"""Shared fixtures: a tiny data root (the HMDB-like dataset of the quick preset) and an untrained expert."""
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='session')
def tiny_root(tmp_path_factory):
    """hmdb_like only (24 train / 12 val / 12 test clips): renders in well under a second."""
    from jedi_repro.data.synth import generate
    from jedi_repro.data.synth.datasets import get_dataset
    return generate(tmp_path_factory.mktemp('data') / 'root', 'quick', seed=0,
                    datasets=(get_dataset('hmdb_like'),), log=None)


@pytest.fixture(scope='session')
def untrained_expert(tmp_path_factory):
    """The x3d_hmdb_like expert with its initial weights exported like `jedi experts train` does."""
    import torch
    from mmaction.utils import register_all_modules
    from mmengine.registry import MODELS

    from jedi_repro.experts.config import load_expert_config

    register_all_modules(init_default_scope=True)
    config = REPO / 'mm_configs' / 'experts' / 'from_scratch' / 'x3d_hmdb_like.py'
    cfg = load_expert_config(config)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ckpt = tmp_path_factory.mktemp('expert') / 'expert.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(name='x3d_hmdb_like')), ckpt)
    return config, ckpt
