"""mm_configs/paper: the paper's four experts build from MMAction2's zoo configs without weights."""
from pathlib import Path

import pytest
import torch

from jedi_repro.experts.config import feature_layer, load_expert_config

PAPER = Path(__file__).resolve().parents[2] / 'mm_configs' / 'paper'
CASES = {  # config -> (classes, tiny input [N, views, C, (T,) H, W])
    'kinetics400_tsn_r50': (400, (1, 8, 3, 64, 64)),
    'ucf101_c3d': (101, (1, 1, 3, 16, 112, 112)),   # C3D's fc6 fixes the input at 16x112x112
    'hmdb51_tsn_r50': (51, (1, 8, 3, 64, 64)),
    'activitynet_tsn_r50': (200, (1, 8, 3, 64, 64)),
}


def _without_weights(cfg):
    """pretrained=None everywhere, Pretrained init_cfg dropped, no load_from (see STACK.md)."""
    def strip(d):
        if isinstance(d, dict):
            if 'pretrained' in d:
                d['pretrained'] = None
            if 'pretrained2d' in d:
                d['pretrained2d'] = False
            if isinstance(d.get('init_cfg'), dict) and d['init_cfg'].get('type') == 'Pretrained':
                d.pop('init_cfg')
            for v in d.values():
                strip(v)
    strip(cfg.model)
    cfg.load_from = None
    return cfg


def test_every_paper_dataset_has_a_config():
    assert sorted(p.stem for p in PAPER.glob('*.py')) == sorted(CASES)
    assert (PAPER / 'README.md').is_file()


@pytest.mark.parametrize('name', sorted(CASES))
def test_builds_without_weights_and_feature_dim(name, tmp_path):
    from mmaction.utils import register_all_modules
    from mmengine.registry import MODELS

    from jedi_repro.experts.extract import find_head_linear

    register_all_modules(init_default_scope=True)
    cfg = _without_weights(load_expert_config(PAPER / f'{name}.py', data_root=tmp_path))
    classes, shape = CASES[name]
    assert cfg.dataset_name in name and cfg.train_dataloader.dataset.ann_file.startswith(str(tmp_path))
    assert cfg.model.cls_head.num_classes == classes
    model = MODELS.build(cfg.model).eval()
    fc = find_head_linear(model, feature_layer(cfg))
    seen = []
    fc.register_forward_pre_hook(lambda m, a: seen.append(a[0].shape))
    x = torch.randint(0, 255, shape, dtype=torch.uint8)
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=list(x), data_samples=None), False)
        feats, kwargs = model.extract_feat(data['inputs'], stage='backbone')
        scores = model.cls_head(feats, **kwargs)
    assert seen[0][-1] == cfg.jedi.feature_dim == fc.in_features
    assert scores.shape == (1, classes)
