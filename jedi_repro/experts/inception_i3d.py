"""Inception-I3D (Carreira & Zisserman, 2017) as an MMAction2 backbone and head.

The network of DeepMind's ``kinetics-i3d`` (Sonnet/TensorFlow), layer for layer, so that the published
Kinetics-400 weights (``jedi experts import i3d-kinetics400``, ``jedi_repro.experts.i3d_import``) compute
the published function:

* TensorFlow "SAME" padding: ``ceil(n / s)`` outputs, the padding split with the extra element at the end
  (asymmetric at stride 2), for convolutions (zeros) and max-pools (-inf: padding never wins a max);
* batch norm with epsilon 1e-3 and an offset but no scale (Sonnet v1's default);
* the head: a (2, 7, 7) average pool (stride 1, "VALID"), the 1x1x1 logits convolution with bias and the
  mean over time.

The logits convolution is linear, so the mean over time of its outputs equals it applied to the mean over
time of its inputs: ``I3DLogitsHead`` averages the pooled features first and applies ``fc_cls`` (a Linear
holding the convolution's weights) once. Its input, a 1024-d vector, is the penultimate feature that
``jedi extract`` caches (``jedi.feature_layer='cls_head.fc_cls'``). Inputs: ``[N, 3, T, H, W]`` in [-1, 1];
at 224 x 224 the pooled map is 1 x 1 as in the original; other sizes are averaged over space as well
(the original would fail there). ``T >= MIN_FRAMES`` (the pool needs two time steps after the 8x
temporal downsampling).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.models.heads.base import BaseHead

from jedi_repro.registry import MODELS

#: the shortest clip the network accepts: ceil(T / 8) >= 2 time steps reach the (2, 7, 7) pool
MIN_FRAMES = 9
#: (name, out channels of branches 0, 1a, 1b, 2a, 2b, 3) of every Inception module, in order
INCEPTION_SPECS = (
    ('Mixed_3b', (64, 96, 128, 16, 32, 32)),
    ('Mixed_3c', (128, 128, 192, 32, 96, 64)),
    ('Mixed_4b', (192, 96, 208, 16, 48, 64)),
    ('Mixed_4c', (160, 112, 224, 24, 64, 64)),
    ('Mixed_4d', (128, 128, 256, 24, 64, 64)),
    ('Mixed_4e', (112, 144, 288, 32, 64, 64)),
    ('Mixed_4f', (256, 160, 320, 32, 128, 128)),
    ('Mixed_5b', (256, 160, 320, 32, 128, 128)),
    ('Mixed_5c', (384, 192, 384, 48, 128, 128)),
)


def same_padding(sizes, kernel, stride) -> list[int]:
    """TensorFlow "SAME" padding of a [..., T, H, W] input in ``F.pad`` order (W first; before, after).

    Per dimension ``pad = max((ceil(n / s) - 1) * s + k - n, 0)``, ``pad // 2`` before and the rest after.
    """
    pads = []
    for n, k, s in zip(reversed(sizes), reversed(kernel), reversed(stride)):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return pads


class Unit3D(nn.Module):
    """Conv3d (no bias) with "SAME" padding, batch norm (eps 1e-3, offset only), ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel=(1, 1, 1), stride=(1, 1, 1)):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        self.conv = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride, bias=False)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, affine=False)
        self.offset = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x):
        if self.kernel != (1, 1, 1) or self.stride != (1, 1, 1):
            x = F.pad(x, same_padding(x.shape[2:], self.kernel, self.stride))
        x = self.bn(self.conv(x)) + self.offset.view(1, -1, 1, 1, 1)
        return F.relu(x)


class MaxPoolSame(nn.Module):
    """Max pool with TensorFlow "SAME" padding (padded with -inf)."""

    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x):
        x = F.pad(x, same_padding(x.shape[2:], self.kernel, self.stride), value=float('-inf'))
        return F.max_pool3d(x, self.kernel, self.stride)


class InceptionModule(nn.Module):
    """Four branches: 1x1x1; 1x1x1 -> 3x3x3; 1x1x1 -> 3x3x3; 3x3x3 max pool -> 1x1x1; concatenated."""

    def __init__(self, in_channels: int, out: tuple[int, ...]):
        super().__init__()
        self.b0 = Unit3D(in_channels, out[0])
        self.b1a, self.b1b = Unit3D(in_channels, out[1]), Unit3D(out[1], out[2], (3, 3, 3))
        self.b2a, self.b2b = Unit3D(in_channels, out[3]), Unit3D(out[3], out[4], (3, 3, 3))
        self.b3pool, self.b3b = MaxPoolSame((3, 3, 3), (1, 1, 1)), Unit3D(in_channels, out[5])
        self.out_channels = out[0] + out[2] + out[4] + out[5]

    def forward(self, x):
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3pool(x))],
                         dim=1)


@MODELS.register_module()
class InceptionI3d(nn.Module):
    """The Inception-I3D trunk up to ``Mixed_5c``: ``[N, 3, T, H, W]`` -> ``[N, 1024, T/8, H/32, W/32]``
    (each rounded up).

    Module names follow the original end points (``Conv3d_1a_7x7``, ``Mixed_4f``, ...), so the importer's
    mapping is name for name.

    Args:
        in_channels: input channels (3 for RGB).
    """

    def __init__(self, in_channels: int = 3):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPoolSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPoolSame((1, 3, 3), (1, 2, 2))
        channels = 192
        for name, out in INCEPTION_SPECS:
            if name == 'Mixed_4b':
                self.MaxPool3d_4a_3x3 = MaxPoolSame((3, 3, 3), (2, 2, 2))
            if name == 'Mixed_5b':
                self.MaxPool3d_5a_2x2 = MaxPoolSame((2, 2, 2), (2, 2, 2))
            block = InceptionModule(channels, out)
            setattr(self, name, block)
            channels = block.out_channels
        self.out_channels = channels

    def init_weights(self) -> None:
        """Weights come from a checkpoint (``jedi experts import``); nothing to initialise here."""

    def forward(self, x):
        if x.shape[2] < MIN_FRAMES:
            raise ValueError(f'Inception-I3D needs at least {MIN_FRAMES} frames, got {x.shape[2]}')
        for module in self.children():  # registration order is the network's order
            x = module(x)
        return x


@MODELS.register_module()
class I3DLogitsHead(BaseHead):
    """The original I3D head: (2, 7, 7) average pool (stride 1, VALID), mean over the remaining positions,
    dropout, ``fc_cls`` (the 1x1x1 logits convolution as a Linear).

    Args:
        num_classes: number of classes.
        in_channels: feature channels (1024).
        dropout_ratio: dropout before ``fc_cls`` (0: the published network at test time).
        kwargs: ``BaseHead`` arguments (``loss_cls``, ``average_clips``, ...).
    """

    def __init__(self, num_classes: int, in_channels: int = 1024, dropout_ratio: float = 0.0, **kwargs):
        super().__init__(num_classes, in_channels, **kwargs)
        self.dropout = nn.Dropout(dropout_ratio) if dropout_ratio > 0 else nn.Identity()
        self.fc_cls = nn.Linear(in_channels, num_classes)

    def forward(self, x, **kwargs):
        if x.shape[2] < 2 or x.shape[3] < 7 or x.shape[4] < 7:
            raise ValueError('I3DLogitsHead needs a feature map of at least 2 x 7 x 7, got '
                             f'{tuple(x.shape[2:])}')
        x = F.avg_pool3d(x, (2, 7, 7), stride=1).mean(dim=(2, 3, 4))
        return self.fc_cls(self.dropout(x))
