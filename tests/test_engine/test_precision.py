from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from jedi_repro.data.toy import make_toy_store
from jedi_repro.engine.precision import CPUBf16OptimWrapper, apply_precision
from jedi_repro.engine.train import train
from jedi_repro.errors import JediError

DEFAULT = str(Path(__file__).resolve().parents[2] / 'mm_configs' / 'jedi' / 'jedi_default.py')
FAST = {'train_cfg.max_epochs': 1, 'default_hooks.logger.interval': 1000}


def _cfg(**extra):
    return Config(dict(optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3)),
                       **extra))


@pytest.mark.parametrize('cuda, wrapper', [(False, 'CPUBf16OptimWrapper'), (True, 'AmpOptimWrapper')])
def test_bf16_picks_the_wrapper_of_the_device(cuda, wrapper):
    cfg = _cfg(precision='bf16')
    assert apply_precision(cfg, cuda=cuda) == 'bf16'
    assert cfg.optim_wrapper.type == wrapper
    assert cfg.optim_wrapper.get('dtype') == ('bfloat16' if cuda else None)


def test_fp32_and_missing_key_leave_the_wrapper():
    for cfg in (_cfg(precision='fp32'), _cfg()):
        assert apply_precision(cfg, cuda=False) == 'fp32' and cfg.optim_wrapper.type == 'OptimWrapper'


@pytest.mark.parametrize('value', ['fp16', 'BF16', None, 16])
def test_unknown_precision_is_named(value):
    with pytest.raises(JediError, match='precision='):
        apply_precision(_cfg(precision=value), cuda=False)


def test_bf16_refuses_a_custom_wrapper():
    cfg = _cfg(precision='bf16')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    with pytest.raises(JediError, match='optim_wrapper.type'):
        apply_precision(cfg, cuda=False)


def test_cpu_wrapper_autocasts_matmuls_to_bf16():
    lin = torch.nn.Linear(8, 4)
    wrapper = CPUBf16OptimWrapper(torch.optim.SGD(lin.parameters(), lr=0.1))
    with wrapper.optim_context(lin):
        out = lin(torch.randn(2, 8))
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().sum())
    assert lin.weight.dtype == torch.float32 and lin.weight.grad is None  # stepped and zeroed


@pytest.mark.integration
def test_train_bf16_from_cfg_options(tmp_path):
    make_toy_store(tmp_path / 'store', n_datasets=2, n_classes=4, dim=8, n_train=60, n_val=30, n_test=30,
                   seed=0)
    m = train(DEFAULT, features=tmp_path / 'store', work_dir=tmp_path / 'wd',
              cfg_options={**FAST, 'precision': 'bf16'}, seed=0)
    assert m['config']['precision'] == 'bf16'
    assert m['config']['optim_wrapper']['type'] == 'CPUBf16OptimWrapper'
    assert 0.0 <= m['mean']['student']['top1'] <= 1.0
    with pytest.raises(JediError, match="precision='fp8'"):
        train(DEFAULT, features=tmp_path / 'store', work_dir=tmp_path / 'wd2',
              cfg_options={**FAST, 'precision': 'fp8'}, seed=0)
    assert not (tmp_path / 'wd2').exists()


def test_a_study_space_with_an_unknown_precision_is_refused_at_load(tmp_path):
    from jedi_repro.studies.spec import SpecError, load_spec
    make_toy_store(tmp_path / 'store', n_datasets=2, n_classes=3, dim=8, n_train=20, n_val=10, n_test=10)
    body = (f'name: prec\nbase_config: {DEFAULT}\nfeatures: {tmp_path / "store"}\nseeds: [0]\n'
            'space:\n  precision: [fp32, {}]\nsampler: grid\nobjective: mean/student/top1\n')
    (tmp_path / 'good.yaml').write_text(body.format('bf16'))
    assert load_spec(tmp_path / 'good.yaml').space['precision'].values == ('fp32', 'bf16')
    (tmp_path / 'bad.yaml').write_text(body.format('fp16'))
    with pytest.raises(SpecError, match=r'space\.precision.*fp16'):
        load_spec(tmp_path / 'bad.yaml')
