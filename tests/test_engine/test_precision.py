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


def _machine(monkeypatch, flags, probe=None):
    from jedi_repro.engine import precision
    monkeypatch.setattr(precision, 'cpu_flags', lambda: ('Test CPU', set(flags)))
    calls = []

    def fake_probe():
        calls.append(1)
        return probe
    monkeypatch.setattr(precision, 'probe_matmul', fake_probe)
    return calls


def test_no_bf16_flag_means_emulated_without_a_probe(monkeypatch):
    from jedi_repro.engine.precision import bf16_native
    calls = _machine(monkeypatch, {'avx2', 'avx512_vnni'})
    native, why = bf16_native(cuda=False)
    assert not native and 'emulated' in why and not calls


@pytest.mark.parametrize('probe, native', [({'fp32': 40.0, 'bf16': 120.0}, True),
                                            ({'fp32': 40.0, 'bf16': 42.0}, False)])
def test_a_flag_is_confirmed_by_a_cached_probe(monkeypatch, probe, native):
    from jedi_repro import workspace
    from jedi_repro.engine.precision import bf16_native
    calls = _machine(monkeypatch, {'avx512_bf16'}, probe)
    assert bf16_native(cuda=False)[0] is native
    assert bf16_native(cuda=False)[0] is native
    assert len(calls) == 1  # the second answer came from the cache
    assert (workspace.root() / 'cache' / 'precision_probe.json').is_file()


def test_auto_resolves_per_machine_and_bf16_warns_where_emulated(monkeypatch, caplog):
    from jedi_repro.engine.precision import effective_precision
    _machine(monkeypatch, {'avx2'})
    cfg = _cfg(precision='auto')
    assert apply_precision(cfg, cuda=False) == 'fp32' and cfg.optim_wrapper.type == 'OptimWrapper'
    assert effective_precision(_cfg(precision='auto'), cuda=False) == 'fp32'
    with caplog.at_level('WARNING'):
        assert apply_precision(_cfg(precision='bf16'), cuda=False) == 'bf16'  # as asked, but warned
    assert 'without native bf16' in caplog.text
    _machine(monkeypatch, {'amx_bf16'}, {'fp32': 40.0, 'bf16': 300.0})
    cfg = _cfg(precision='auto')
    assert apply_precision(cfg, cuda=False) == 'bf16' and cfg.optim_wrapper.type == 'CPUBf16OptimWrapper'


@pytest.mark.integration
def test_train_records_runtime_threads_and_precision(tmp_path, monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    monkeypatch.delenv('JEDI_NUM_THREADS', raising=False)
    make_toy_store(tmp_path / 'store', n_datasets=2, n_classes=4, dim=8, n_train=60, n_val=30, n_test=30)
    m = train(DEFAULT, features=tmp_path / 'store', work_dir=tmp_path / 'wd', cfg_options=FAST, seed=0)
    assert m['runtime'] == dict(threads=1, threads_reason='OMP_NUM_THREADS', precision='fp32')
    assert 'threads' not in m['config']  # speed only: not in the record a reuse or resume compares
    m = train(DEFAULT, features=tmp_path / 'store', work_dir=tmp_path / 'wd2',
              cfg_options={**FAST, 'threads': 2}, seed=0)
    assert m['runtime']['threads'] == 2 and m['runtime']['threads_reason'] == 'config threads'
    with pytest.raises(JediError, match='threads=0'):
        train(DEFAULT, features=tmp_path / 'store', work_dir=tmp_path / 'wd3',
              cfg_options={**FAST, 'threads': 0}, seed=0)
    assert not (tmp_path / 'wd3').exists()
