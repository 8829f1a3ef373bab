"""Each compat fix in jedi_repro/compat.py has a test here."""
import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import jedi_repro  # noqa: F401
from jedi_repro import compat


def test_mmaction_models_import_and_registry():
    import mmaction.models  # noqa: F401  (fails on the 1.2.0 wheel without the DRN stub)
    from mmaction.registry import MODELS

    assert MODELS.get('Recognizer3D') is not None
    assert MODELS.get('X3D') is not None


def test_drn_stub_refuses_to_build():
    from mmaction.models.localizers.drn.drn import DRN

    with pytest.raises(ImportError, match='DRN'):
        DRN()


def test_apply_is_idempotent():
    compat.apply()
    compat.apply()
    import sys

    assert 'mmaction.models.localizers.drn.drn' in sys.modules


def test_mmengine_message_hub_loads_with_weights_only_default():
    from mmengine.logging import HistoryBuffer

    buf = HistoryBuffer()
    buf.update(1.5)
    buf.update(np.float64(2.5), count=2)
    obj = {'state_dict': {'w': torch.ones(2)},
           'meta': {'epoch': np.int64(3), 'seed': np.arange(3), 'lr': np.float32(0.1)},
           'message_hub': {'log_scalars': {'train/loss': buf}}}
    f = io.BytesIO()
    torch.save(obj, f)
    f.seek(0)
    loaded = torch.load(f)  # weights_only=True is torch's default
    restored = loaded['message_hub']['log_scalars']['train/loss']
    assert restored.current() == pytest.approx(2.5)
    assert restored.mean() == pytest.approx((1.5 + 2.5) / 3)  # sum of values / sum of counts
    assert loaded['meta']['epoch'] == 3


class _Evil:
    def __reduce__(self):
        import os
        return (os.system, ('echo pwned',))


def test_untrusted_pickle_is_still_refused():
    """The allow-list is narrow: arbitrary callables in a checkpoint are still rejected."""
    f = io.BytesIO()
    torch.save({'x': _Evil()}, f, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    f.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(f)


def test_history_buffer_pickles_without_bound_methods():
    from mmengine.logging import HistoryBuffer

    buf = HistoryBuffer()
    buf.update(1.0)
    assert b'getattr' not in pickle.dumps(buf)


def test_pretty_text_lets_ctrl_c_through(monkeypatch):
    """mmengine's bare ``except:`` around yapf turned Ctrl-C during a checkpoint save into a SyntaxError."""
    import mmengine.config.config as mm_config
    from mmengine.config import Config

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(mm_config, 'FormatCode', interrupted)
    with pytest.raises(KeyboardInterrupt):
        _ = Config(dict(a='interrupted')).pretty_text

    def broken(*args, **kwargs):
        raise ValueError('not python')
    monkeypatch.setattr(mm_config, 'FormatCode', broken)
    with pytest.raises(SyntaxError):  # other formatting failures keep mmengine's error
        _ = Config(dict(a='broken')).pretty_text


def test_pretty_text_is_memoised_by_content(monkeypatch):
    import mmengine.config.config as mm_config
    from mmengine.config import Config

    calls = []
    real = mm_config.FormatCode
    monkeypatch.setattr(mm_config, 'FormatCode', lambda *a, **k: calls.append(1) or real(*a, **k))
    first = Config(dict(a='memo', b=[1, 2])).pretty_text
    assert Config(dict(a='memo', b=[1, 2])).pretty_text == first and len(calls) == 1
    changed = Config(dict(a='memo', b=[1, 3]))
    assert changed.pretty_text != first and len(calls) == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason='the fix is for machines without CUDA')
def test_mmengine_pytorch_launcher_initialises_on_cpu(monkeypatch):
    import socket

    import torch.distributed as dist
    from mmengine.dist import init_dist

    compat.apply()
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    for k, v in dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1',
                     MASTER_PORT=str(port)).items():
        monkeypatch.setenv(k, v)
    init_dist('pytorch', backend='gloo')  # unpatched: torch.cuda.set_device raises without CUDA
    try:
        assert dist.is_initialized() and dist.get_backend() == 'gloo' and dist.get_world_size() == 1
    finally:
        dist.destroy_process_group()


def test_previous_best_checkpoint_stays_until_the_new_one_is_written(tmp_path):
    """A best checkpoint whose save fails (a full disk) leaves the previous best in place; one that succeeds
    replaces it."""
    from types import SimpleNamespace

    import mmengine.runner.runner  # noqa: F401 - the checkpoint fixes are applied once it is imported
    from mmengine.fileio import get_file_backend
    from mmengine.hooks import CheckpointHook
    from mmengine.logging import MessageHub, MMLogger

    compat.apply()
    hook = CheckpointHook(save_best='acc', rule='greater')
    hook.out_dir, hook.file_backend, hook.filename_tmpl = str(tmp_path), get_file_backend(str(tmp_path)), \
        'epoch_{}.pth'
    full = []

    def save_checkpoint(out_dir, filename, **kwargs):
        if full:
            raise OSError(28, 'No space left on device', filename)
        Path(out_dir, filename).write_text(filename)

    runner = SimpleNamespace(epoch=1, iter=1, message_hub=MessageHub.get_instance('keep-best'),
                             logger=MMLogger.get_instance('keep-best'), save_checkpoint=save_checkpoint)
    hook._save_best_checkpoint(runner, {'acc': 0.5})
    assert sorted(p.name for p in tmp_path.iterdir()) == ['best_acc_epoch_1.pth']
    runner.epoch = 2
    hook._save_best_checkpoint(runner, {'acc': 0.6})  # a better one replaces it
    assert sorted(p.name for p in tmp_path.iterdir()) == ['best_acc_epoch_2.pth']
    runner.epoch, full[:] = 3, [True]
    with pytest.raises(OSError):
        hook._save_best_checkpoint(runner, {'acc': 0.7})
    assert sorted(p.name for p in tmp_path.iterdir()) == ['best_acc_epoch_2.pth']  # the previous good state
