"""``precision = 'fp32' | 'bf16' | 'auto'``: the training precision, one top-level config key.

``bf16`` trains under bfloat16 autocast (weights, optimizer state and validation stay float32): on CUDA
with mmengine's ``AmpOptimWrapper(dtype='bfloat16')``; on CPU, where that wrapper asserts a CUDA/NPU/MLU
device, with :class:`CPUBf16OptimWrapper`, the same context on ``torch.autocast('cpu')``. No loss scaling:
bf16 has fp32's range.

bf16 pays only where the hardware has bf16 matrix units: CPUs with AMX (``amx_bf16``) or AVX512-BF16
(``avx512_bf16``), CUDA devices of compute capability 8.0 or more. Elsewhere torch emulates it, and
training was measured 2.3x slower than fp32 (issue 22: an Intel Xeon with only ``avx512_vnni``).
:func:`bf16_native` says which case this machine is (flags, then a measured matmul probe, cached per
machine under the workspace); ``precision='bf16'`` on an emulating machine trains as asked, with a
warning; ``precision='auto'`` trains bf16 where it is native and measured faster, fp32 elsewhere.

The default stays ``fp32``: bf16 changes the numbers (about 3 significant digits per product), and
``'auto'`` would make the same command give different results on two machines of one kind that differ
only in their CPU flags. ``auto`` is for users who want speed and accept that; the effective precision of
every run is recorded (``metrics.json`` ``runtime.precision``, MLflow tag ``jedi.precision``).
"""
from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path

import torch
from mmaction.registry import OPTIM_WRAPPERS
from mmengine.optim import OptimWrapper

from jedi_repro.errors import JediError

PRECISIONS = ('fp32', 'bf16', 'auto')
NATIVE_CPU_FLAGS = ('amx_bf16', 'avx512_bf16')
PROBE_MIN_SPEEDUP = 1.2  # bf16 must beat fp32 by this much in the probe to count as native and faster
_log = logging.getLogger(__name__)


@OPTIM_WRAPPERS.register_module()
class CPUBf16OptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward/loss context is CPU bfloat16 autocast (``AmpOptimWrapper`` for CPU)."""

    @contextlib.contextmanager
    def optim_context(self, model):
        with super().optim_context(model), torch.autocast('cpu', dtype=torch.bfloat16):
            yield


def check_precision(value) -> str:
    """The validated ``precision`` value; ``JediError`` naming the key otherwise."""
    if value not in PRECISIONS:
        raise JediError(f'config key precision={value!r} is not supported; use one of {list(PRECISIONS)}')
    return value


def cpu_flags() -> tuple[str, set[str]]:
    """``(model name, flags)`` of this machine's CPU from ``/proc/cpuinfo`` (empty where unreadable)."""
    model, flags = '', set()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name') and not model:
                    model = line.split(':', 1)[1].strip()
                elif line.startswith(('flags', 'Features')) and not flags:
                    flags = set(line.split(':', 1)[1].split())
    except OSError:
        pass
    return model, flags


def probe_matmul(n: int = 1024, seconds: float = 0.3) -> dict:
    """Best GFLOP/s of an ``n x n`` matmul in fp32 and in bf16 on the CPU, one thread (relative speed)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = {}
        for name, dt in (('fp32', torch.float32), ('bf16', torch.bfloat16)):
            a, b = torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt)
            a @ b
            best, end = float('inf'), time.perf_counter() + seconds
            while time.perf_counter() < end:
                t = time.perf_counter()
                a @ b
                best = min(best, time.perf_counter() - t)
            out[name] = 2 * n ** 3 / best / 1e9
        return out
    finally:
        torch.set_num_threads(threads)


def _probe_cache() -> Path:
    from jedi_repro import workspace
    return workspace.root() / 'cache' / 'precision_probe.json'


def bf16_native(cuda: bool | None = None, probe: bool = True) -> tuple[bool, str]:
    """Whether this device runs bf16 natively and faster than fp32, and why (flags / probe figures).

    CPU: no ``amx_bf16`` / ``avx512_bf16`` flag means emulated. With a flag, a matmul probe (cached per CPU
    model, flags and torch version under ``$JEDI_HOME/cache``) must show bf16 at least
    ``PROBE_MIN_SPEEDUP`` times fp32. CUDA: compute capability 8.0 or more.
    """
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if cuda:
        try:
            major, minor = torch.cuda.get_device_capability()
        except (RuntimeError, AssertionError):  # no device to ask (a forced cuda=True): trust the request
            return True, 'CUDA (compute capability unknown)'
        return major >= 8, f'CUDA compute capability {major}.{minor}'
    model, flags = cpu_flags()
    have = sorted(f for f in NATIVE_CPU_FLAGS if f in flags)
    if not have:
        return False, f'CPU {model or "?"} has no {"/".join(NATIVE_CPU_FLAGS)} flag: bf16 is emulated'
    if not probe:
        return True, f'CPU flags {",".join(have)}'
    key = f'{model}|{" ".join(sorted(flags))}|torch {torch.__version__}'
    cache = _probe_cache()
    cached = {}
    try:
        cached = json.loads(cache.read_text())
    except (OSError, ValueError):
        pass
    rec = cached.get(key)
    if not isinstance(rec, dict) or not {'fp32', 'bf16'} <= set(rec):
        rec = probe_matmul()
        cached[key] = rec
        from jedi_repro.atomic import write_text_atomic
        from jedi_repro.errors import JediError
        try:
            write_text_atomic(cache, json.dumps(cached, indent=1))
        except (OSError, JediError):
            pass  # an unwritable or full workspace: probe again next time
    ratio = rec['bf16'] / rec['fp32']
    why = (f'CPU flags {",".join(have)}; matmul probe bf16 {rec["bf16"]:.0f} vs fp32 {rec["fp32"]:.0f} '
           f'GFLOP/s ({ratio:.2f}x)')
    return ratio >= PROBE_MIN_SPEEDUP, why


def effective_precision(cfg, cuda: bool | None = None) -> str:
    """What ``cfg.precision`` trains in on this machine: ``fp32`` or ``bf16`` (``auto`` resolved)."""
    precision = check_precision(cfg.get('precision', 'fp32'))
    if precision == 'auto':
        precision = 'bf16' if bf16_native(cuda)[0] else 'fp32'
    return precision


def apply_precision(cfg, cuda: bool | None = None) -> str:
    """Set ``cfg.optim_wrapper.type`` from ``cfg.precision`` (default ``'fp32'``); returns the precision
    trained in (``auto`` resolved). Warns when bf16 is asked for on a device that emulates it.

    A config that already names a wrapper other than plain ``OptimWrapper`` is left alone for fp32 and
    refused for bf16 (two precision settings would contradict each other).
    """
    asked = check_precision(cfg.get('precision', 'fp32'))
    if asked == 'fp32':
        return asked
    cuda = torch.cuda.is_available() if cuda is None else cuda
    native, why = bf16_native(cuda)
    if asked == 'auto' and not native:
        return 'fp32'
    if asked == 'bf16' and not native:
        _log.warning(f'precision=bf16 on a device without native bf16 ({why}): it will likely train slower '
                     "than fp32 (measured 2.3x slower on such a CPU); precision='auto' picks fp32 here")
    wrapper = cfg.optim_wrapper
    if wrapper.get('type', 'OptimWrapper') != 'OptimWrapper':
        raise JediError(f'precision={asked} needs optim_wrapper.type=OptimWrapper (the config sets '
                        f'{wrapper.get("type")!r}); set one or the other')
    if cuda:
        wrapper.update(type='AmpOptimWrapper', dtype='bfloat16')
    else:
        wrapper.update(type='CPUBf16OptimWrapper')
    return 'bf16'
