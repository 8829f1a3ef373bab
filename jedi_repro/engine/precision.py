"""``precision = 'fp32' | 'bf16'``: the training precision, one top-level config key.

``bf16`` trains under bfloat16 autocast (weights, optimizer state and validation stay float32): on CUDA
with mmengine's ``AmpOptimWrapper(dtype='bfloat16')``; on CPU, where that wrapper asserts a CUDA/NPU/MLU
device, with :class:`CPUBf16OptimWrapper`, the same context on ``torch.autocast('cpu')`` (CPUs with AMX or
AVX512-BF16 run bf16 matmuls several times faster than fp32). No loss scaling: bf16 has fp32's range.
"""
from __future__ import annotations

import contextlib

import torch
from mmaction.registry import OPTIM_WRAPPERS
from mmengine.optim import OptimWrapper

from jedi_repro.errors import JediError

PRECISIONS = ('fp32', 'bf16')


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


def apply_precision(cfg, cuda: bool | None = None) -> str:
    """Set ``cfg.optim_wrapper.type`` from ``cfg.precision`` (default ``'fp32'``); returns the precision.

    A config that already names a wrapper other than plain ``OptimWrapper`` is left alone for fp32 and
    refused for bf16 (two precision settings would contradict each other).
    """
    precision = check_precision(cfg.get('precision', 'fp32'))
    if precision == 'fp32':
        return precision
    wrapper = cfg.optim_wrapper
    if wrapper.get('type', 'OptimWrapper') != 'OptimWrapper':
        raise JediError(f'precision=bf16 needs optim_wrapper.type=OptimWrapper (the config sets '
                        f'{wrapper.get("type")!r}); set one or the other')
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if cuda:
        wrapper.update(type='AmpOptimWrapper', dtype='bfloat16')
    else:
        wrapper.update(type='CPUBf16OptimWrapper')
    return precision
