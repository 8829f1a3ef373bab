"""Fixes that make mmaction2 1.2.0 + mmengine 0.10.7 + mmcv-lite 2.1.0 work on torch 2.13.

Installed by ``jedi_repro/__init__.py`` (``install``: applied when mmengine is first imported, so that
``jedi --help`` does not load the ML stack); every fix is idempotent and has a test in
``tests/test_compat.py``. See ../shared/STACK.md for how each breakage was measured.

1. ``mmaction.models.localizers`` imports ``.drn.drn``, which the 1.2.0 wheel does not ship. A stub
   package is put into ``sys.modules`` so ``import mmaction.models`` works; only the DRN localizer is
   lost, and building it raises a clear error.
2. torch >= 2.6 loads checkpoints with ``weights_only=True``; mmengine checkpoints carry a
   ``message_hub`` with ``HistoryBuffer`` objects and numpy arrays/scalars, so ``load_checkpoint`` and
   ``Runner(resume=True)`` fail with ``UnpicklingError``. Instead of falling back to
   ``weights_only=False`` (arbitrary code on load), the few classes these checkpoints need are added to
   torch's allow-list of safe globals, and ``HistoryBuffer`` no longer pickles its statistics methods
   (bound methods, pickled through ``getattr``, which must never be allow-listed): they are class-level
   and rebuilt on load. Loading stays restricted for every file; checkpoints written by an unpatched
   mmengine still fail to load, with torch's error, unless the user passes a trust flag.
3. ``Config.pretty_text`` (mmengine, called at every checkpoint save) formats the config inside a bare
   ``except:`` that turns a Ctrl-C arriving during formatting into ``SyntaxError: Failed to format the
   config file``: the interrupt was recorded as an ordinary failure and the process went on. The property
   is wrapped so that such a SyntaxError re-raises the KeyboardInterrupt it swallowed; its text is
   memoised by the config's content (yapf took ~30 ms per checkpoint save, most of a ``last.pth`` write).
4. mmcv-lite lacks compiled ops; mmcv warns about ``MultiScaleDeformableAttention`` at import. No
   recognizer the project uses needs it, so that one warning is silenced.
5. ``mmengine.dist.utils._init_dist_pytorch`` (``launcher='pytorch'``, torchrun) calls
   ``torch.cuda.set_device`` even on a machine without CUDA; on CPU it now only initialises the process
   group (gloo), as the function does after that call.
6. mmengine writes a checkpoint (a best checkpoint, ``last.pth``) straight under its final name: a full
   disk left a truncated file there. ``Runner.save_checkpoint`` now writes a temporary sibling and renames
   it (``jedi_repro.atomic.atomic_path``): a failed save leaves no partial file and names the path.
   ``CheckpointHook`` removed the previous best checkpoint before it wrote the new one, so a failed save
   left no best checkpoint at all; the previous one is now removed only once the new one is written.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import types
import warnings

_APPLIED = False


def _stub_drn() -> None:
    """Register ``mmaction.models.localizers.drn(.drn)`` with a ``DRN`` that refuses to build."""
    if 'mmaction.models.localizers.drn.drn' in sys.modules:
        return
    spec = importlib.util.find_spec('mmaction')  # finds the top package without importing mmaction.models
    if spec is None:
        return  # nothing to patch
    for loc in spec.submodule_search_locations or []:
        if os.path.isfile(os.path.join(loc, 'models', 'localizers', 'drn', 'drn.py')):
            return  # a wheel that ships DRN needs no stub

    class DRN:  # noqa: D401 - placeholder with the real name, so the registry entry is explicit
        """Placeholder for mmaction2's DRN localizer, which the 1.2.0 wheel does not ship."""

        def __init__(self, *args, **kwargs):
            raise ImportError('mmaction2 1.2.0 wheels do not ship the DRN localizer '
                              '(mmaction/models/localizers/drn); it is unavailable in jedi_repro.')

    pkg = types.ModuleType('mmaction.models.localizers.drn')
    pkg.__path__ = []  # a package, so that ``.drn.drn`` resolves
    mod = types.ModuleType('mmaction.models.localizers.drn.drn')
    mod.DRN = DRN
    pkg.drn = mod
    pkg.DRN = DRN
    sys.modules[pkg.__name__] = pkg
    sys.modules[mod.__name__] = mod


def mmengine_checkpoint_safe_globals() -> list:
    """The classes an mmengine 0.10.7 checkpoint pickles besides tensors (allow-listed, not trusted)."""
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer

    classes = [HistoryBuffer, np.ndarray, np.dtype, np._core.multiarray._reconstruct,
               np._core.multiarray.scalar]
    # numpy >= 1.25 pickles dtypes as instances of ``np.dtypes.*DType`` classes.
    classes += [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith('DType')]
    return classes


def _history_buffer_getstate(self) -> dict:
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)  # class-level registry; ``__setstate__`` restores it
    return state


def _allow_mmengine_checkpoints() -> None:
    import torch.serialization
    from mmengine.logging.history_buffer import HistoryBuffer

    HistoryBuffer.__getstate__ = _history_buffer_getstate
    torch.serialization.add_safe_globals(mmengine_checkpoint_safe_globals())


_PRETTY_TEXT_CACHE: dict[str, str] = {}


def _keep_interrupts_in_pretty_text() -> None:
    from mmengine.config import Config

    fget = Config.pretty_text.fget
    if getattr(fget, 'keeps_interrupts', False):
        return

    def pretty_text(self) -> str:
        # formatting with yapf takes ~30 ms and runs at every checkpoint save: memoised by content
        try:
            key = json.dumps([self._cfg_dict.to_dict(), self._format_python_code], sort_keys=True,
                             default=repr)
        except Exception:  # noqa: BLE001 - an unusual config: format it every time
            key = None
        if key is not None and key in _PRETTY_TEXT_CACHE:
            return _PRETTY_TEXT_CACHE[key]
        try:
            text = fget(self)
        except SyntaxError as exc:
            if isinstance(exc.__context__, KeyboardInterrupt):
                raise exc.__context__ from None
            raise
        if key is not None:
            if len(_PRETTY_TEXT_CACHE) > 64:
                _PRETTY_TEXT_CACHE.clear()
            _PRETTY_TEXT_CACHE[key] = text
        return text

    pretty_text.keeps_interrupts = True
    pretty_text.__doc__ = fget.__doc__
    Config.pretty_text = property(pretty_text)


def _cpu_safe_init_dist_pytorch() -> None:
    from mmengine.dist import utils as dist_utils
    original = dist_utils._init_dist_pytorch
    if getattr(original, '_jedi_cpu_safe', False):
        return

    def init_dist_pytorch(backend, init_backend='torch', **kwargs):
        from mmengine.device import get_device
        if get_device() != 'cpu' or init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        import torch.distributed
        torch.distributed.init_process_group(backend=backend, **kwargs)

    init_dist_pytorch._jedi_cpu_safe = True
    init_dist_pytorch.__wrapped__ = original
    dist_utils._init_dist_pytorch = init_dist_pytorch


def _atomic_checkpoint_saves() -> None:
    from mmengine.runner import runner as runner_module
    original = runner_module.save_checkpoint
    if getattr(original, '_jedi_atomic', False):
        return

    def save_checkpoint(checkpoint, filename, *args, **kwargs):
        if '://' in str(filename):  # a remote backend (pavi://, s3://): not a local file to rename
            return original(checkpoint, filename, *args, **kwargs)
        from jedi_repro.atomic import atomic_path
        with atomic_path(filename) as tmp:
            original(checkpoint, str(tmp), *args, **kwargs)

    save_checkpoint._jedi_atomic = True
    save_checkpoint.__wrapped__ = original
    runner_module.save_checkpoint = save_checkpoint


def _keep_best_until_replaced() -> None:
    from mmengine.hooks import CheckpointHook
    original = CheckpointHook._save_best_checkpoint
    if getattr(original, '_jedi_keeps_best', False):
        return

    def _save_best_checkpoint(self, runner, metrics):
        backend, deferred = self.file_backend, []
        backend.remove = deferred.append  # the hook's only use of remove(): the previous best checkpoint
        try:
            original(self, runner, metrics)
        finally:
            del backend.remove  # the class's method again
        current = {getattr(self, 'best_ckpt_path', None), *getattr(self, 'best_ckpt_path_dict', {}).values()}
        for path in deferred:
            if path not in current:
                backend.remove(path)

    _save_best_checkpoint._jedi_keeps_best = True
    _save_best_checkpoint.__wrapped__ = original
    CheckpointHook._save_best_checkpoint = _save_best_checkpoint


def _checkpoint_fixes() -> None:
    _atomic_checkpoint_saves()
    _keep_best_until_replaced()


class _AfterImport:
    """A ``sys.meta_path`` finder that runs ``callback`` right after module ``name`` has executed.

    It lets ``import jedi_repro`` stay light (``jedi --help`` need not load torch): the fixes above patch
    mmengine, so they are applied the moment mmengine is imported, before any caller can use it.
    """

    def __init__(self, name: str, callback):
        self.name, self.callback = name, callback

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader, hook = spec.loader, self
        original = loader.exec_module

        def exec_module(module):
            original(module)
            if hook in sys.meta_path:
                sys.meta_path.remove(hook)
            hook.callback()

        loader.exec_module = exec_module
        return spec


def install() -> None:
    """What ``import jedi_repro`` does: the cheap fixes now, the mmengine ones when mmengine is imported
    (at once if it already is)."""
    warnings.filterwarnings('ignore', message='Fail to import ``MultiScaleDeformableAttention``')
    _stub_drn()
    if 'mmengine' in sys.modules:
        apply()
    elif not any(isinstance(f, _AfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport('mmengine', apply))


def apply() -> None:
    """Apply every fix once (cheap after the first call)."""
    global _APPLIED
    if _APPLIED:
        return
    warnings.filterwarnings('ignore', message='Fail to import ``MultiScaleDeformableAttention``')
    _stub_drn()
    _allow_mmengine_checkpoints()
    _keep_interrupts_in_pretty_text()
    _cpu_safe_init_dist_pytorch()
    if 'mmengine.runner.runner' in sys.modules:
        _checkpoint_fixes()
    elif not any(isinstance(f, _AfterImport) and f.name == 'mmengine.runner.runner' for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport('mmengine.runner.runner', _checkpoint_fixes))
    _APPLIED = True
