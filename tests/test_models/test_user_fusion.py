"""Adding a fusion needs no edit inside the framework: a user module, a config, `jedi train`."""
import json
import sys
from pathlib import Path

import pytest

from jedi_repro.cli import main
from jedi_repro.data.toy import make_toy_store

DEFAULT = Path(__file__).resolve().parents[2] / 'mm_configs' / 'jedi' / 'jedi_default.py'

USER_FUSION = '''
import torch
from torch import nn

from jedi_repro.registry import FUSIONS


@FUSIONS.register_module(name='user_max')
class MaxFusion(nn.Module):
    needs_expert_logits = False

    def __init__(self, in_dims, num_classes=None, proj_dim=16):
        super().__init__()
        self.out_dim = proj_dim
        self.proj = nn.ModuleList(nn.Linear(d, proj_dim) for d in in_dims)

    def forward(self, feats, expert_logits=None):
        return torch.stack([p(f) for p, f in zip(self.proj, feats)]).amax(dim=0)
'''

USER_CONFIG = f'''
_base_ = [{str(DEFAULT)!r}]
custom_imports = dict(imports=['user_fusion_mod'], allow_failed_imports=False)
model = dict(fusion=dict(_delete_=True, type='user_max', proj_dim=8))
'''


@pytest.mark.integration
def test_user_registered_fusion_trains_from_its_config(tmp_path, monkeypatch):
    (tmp_path / 'user_fusion_mod.py').write_text(USER_FUSION)
    (tmp_path / 'jedi_user_max.py').write_text(USER_CONFIG)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, 'user_fusion_mod', raising=False)
    make_toy_store(tmp_path / 'store', n_datasets=2, n_classes=3, dim=8, n_train=40, n_val=20, n_test=20)
    rc = main(['train', str(tmp_path / 'jedi_user_max.py'), '--features', str(tmp_path / 'store'),
               '--work-dir', str(tmp_path / 'wd'), '--no-mlflow',
               '--cfg-options', 'train_cfg.max_epochs=1', 'model.fusion.proj_dim=4'])
    assert rc == 0
    m = json.loads((tmp_path / 'wd' / 'metrics.json').read_text())
    assert m['config']['model']['fusion'] == {'type': 'user_max', 'proj_dim': 4}
    assert 0.0 <= m['mean']['teacher']['top1'] <= 1.0
