"""Fine-tuned experts: a source expert's backbone initialises its dependents (``jedi.init_backbone``)."""
import json
from pathlib import Path

import pytest
import torch

from jedi_repro.errors import JediError
from jedi_repro.experts.config import load_expert_config
from jedi_repro.experts.pipeline import expert_cache_key, training_order
from jedi_repro.experts.train import INIT_BACKBONE_NAME, init_backbone_source, write_init_backbone

EXPERTS = Path(__file__).resolve().parents[2] / 'mm_configs' / 'experts'


def _model(config, seed):
    from mmaction.utils import register_all_modules
    from mmengine.registry import MODELS

    register_all_modules(init_default_scope=True)
    torch.manual_seed(seed)
    model = MODELS.build(load_expert_config(config).model)
    model.init_weights()
    return model


def _export(model, path):
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return path


def test_backbone_only_is_written_and_loads_through_load_from(tmp_path):
    from mmengine.runner import load_checkpoint

    source = _model(EXPERTS / 'r3d18_kinetics_like.py', seed=0)
    target = _model(EXPERTS / 'r3d18_hmdb_like.py', seed=1)
    head_before = target.cls_head.fc_cls.weight.clone()
    out = tmp_path / INIT_BACKBONE_NAME
    info = write_init_backbone(_export(source, tmp_path / 'expert.pth'), target, out)
    state = torch.load(out, weights_only=True)['state_dict']
    assert state and all(k.startswith('backbone.') for k in state)  # never the 16-class head
    assert info['tensors'] == len(state) and len(info['sha256']) == 64
    # What the Runner does with `load_from` after its weight init:
    load_checkpoint(target, str(out), map_location='cpu', strict=False)
    for k, v in source.backbone.state_dict().items():
        assert torch.equal(target.backbone.state_dict()[k], v), k
    assert torch.equal(target.cls_head.fc_cls.weight, head_before)  # the new 6-class head stays fresh


def test_unfitting_or_headless_source_is_refused_naming_the_file(tmp_path):
    target = _model(EXPERTS / 'r3d18_ucf_like.py', seed=0)
    other = _export(_model(EXPERTS / 'from_scratch' / 'x3d_hmdb_like.py', seed=0), tmp_path / 'x3d.pth')
    with pytest.raises(JediError, match='x3d.pth.*does not fit'):
        write_init_backbone(other, target, tmp_path / 'out.pth')
    torch.save(dict(state_dict={'cls_head.fc_cls.weight': torch.zeros(2, 2)}), tmp_path / 'head.pth')
    with pytest.raises(JediError, match='head.pth holds no `backbone'):
        write_init_backbone(tmp_path / 'head.pth', target, tmp_path / 'out.pth')
    assert not (tmp_path / 'out.pth').exists()


def test_demo_configs_fine_tune_the_kinetics_backbone_and_train_it_first():
    from jedi_repro.experts.extract import default_expert_configs  # the trained-here experts
    order = training_order(default_expert_configs())
    names = [p.stem for p, _, _ in order]
    assert names[0] == 'r3d18_kinetics_like' and len(names) == 4
    assert [src for _, _, src in order] == [None] + ['r3d18_kinetics_like'] * 3
    backbones = {json.dumps(cfg.model.backbone.to_dict(), sort_keys=True) for _, cfg, _ in order}
    assert len(backbones) == 1  # weights transfer only between identical backbones


def test_training_order_errors(tmp_path):
    base = (EXPERTS / 'r3d18_ucf_like.py').read_text().replace("'./_base_/", f"'{EXPERTS}/_base_/")
    lone = tmp_path / 'lone.py'
    lone.write_text(base)
    with pytest.raises(JediError, match="lone.py: jedi.init_backbone='r3d18_kinetics_like' is not one of"):
        training_order([lone])
    a, b = tmp_path / 'a.py', tmp_path / 'b.py'
    a.write_text(base.replace("init_backbone='r3d18_kinetics_like'", "init_backbone='b'"))
    b.write_text(base.replace("init_backbone='r3d18_kinetics_like'", "init_backbone='a'"))
    with pytest.raises(JediError, match='cycle'):
        training_order([a, b])


def test_cache_key_follows_the_source_checkpoint_and_the_config(tmp_path):
    cfg = load_expert_config(EXPERTS / 'r3d18_hmdb_like.py')
    assert init_backbone_source(cfg) == 'r3d18_kinetics_like'
    ckpt = tmp_path / 'expert.pth'
    ckpt.write_bytes(b'first')
    key = expert_cache_key(cfg, tmp_path, 8, 0, ckpt)
    assert key == expert_cache_key(cfg, tmp_path, 8, 0, ckpt)
    ckpt.write_bytes(b'retrained')
    assert expert_cache_key(cfg, tmp_path, 8, 0, ckpt) != key  # a changed pretraining retrains dependents
    cfg.optim_wrapper.optimizer.lr = 1.0
    assert expert_cache_key(cfg, tmp_path, 8, 0, ckpt)['config'] != key['config']
    with pytest.raises(JediError, match='missing.pth does not exist'):
        expert_cache_key(cfg, tmp_path, 8, 0, tmp_path / 'missing.pth')


def test_train_expert_names_the_missing_source_checkpoint(tiny_root, tmp_path):
    from jedi_repro.experts.train import train_expert

    with pytest.raises(JediError, match='r3d18_hmdb_like.py: jedi.init_backbone.*nope.pth does not exist'):
        train_expert(EXPERTS / 'r3d18_hmdb_like.py', data_root=tiny_root, work_dir=tmp_path / 'wd',
                     init_checkpoint=tmp_path / 'nope.pth')


def test_expert_stage_threads_are_fixed_by_configuration_and_keyed(tmp_path, monkeypatch):
    from jedi_repro.experts.pipeline import EXPERT_STAGE_THREADS, expert_stage_threads

    cfg = load_expert_config(EXPERTS / 'r3d18_kinetics_like.py')
    monkeypatch.delenv('JEDI_EXPERT_THREADS', raising=False)
    monkeypatch.setenv('OMP_NUM_THREADS', '1')  # the machine's setting does not choose the stage's count
    assert expert_stage_threads() == EXPERT_STAGE_THREADS
    key = expert_cache_key(cfg, tmp_path, 8, 0, None)
    assert key['threads'] == EXPERT_STAGE_THREADS
    monkeypatch.setenv('JEDI_EXPERT_THREADS', '3')
    assert expert_stage_threads() == 3
    assert expert_cache_key(cfg, tmp_path, 8, 0, None) != key  # another count gives another expert: retrain
    for bad in ('0', 'two', '-1'):
        monkeypatch.setenv('JEDI_EXPERT_THREADS', bad)
        with pytest.raises(JediError, match='JEDI_EXPERT_THREADS'):
            expert_stage_threads()
