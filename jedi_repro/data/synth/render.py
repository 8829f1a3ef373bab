"""Render one synthetic clip: a textured background, a moving polygon, camera motion, noise.

Pure numpy/OpenCV; every random choice comes from the ``rng`` passed in, so a clip is a function of its
seed. Frames are BGR uint8 (what ``cv2.VideoWriter`` expects).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from jedi_repro.data.synth.motions import Pose

# Unit polygons (radius about 1), all without rotational symmetry below 180 degrees, so rotation direction
# is visible between consecutive frames.
SHAPES: dict[str, np.ndarray] = {
    'triangle': np.array([(1.2, 0), (-0.7, 0.65), (-0.7, -0.65)]),
    'arrow': np.array([(1.1, 0), (0.2, 0.75), (0.2, 0.3), (-0.9, 0.3), (-0.9, -0.3), (0.2, -0.3),
                       (0.2, -0.75)]),
    'bar': np.array([(1.1, 0.35), (-1.1, 0.35), (-1.1, -0.35), (1.1, -0.35)]),
    'ell': np.array([(-0.8, -0.9), (-0.2, -0.9), (-0.2, 0.3), (0.9, 0.3), (0.9, 0.9), (-0.8, 0.9)]),
    'pac': np.array([(0.0, 0.0)] + [(math.cos(a), math.sin(a))
                                    for a in np.linspace(0.6, 2 * math.pi - 0.6, 14)]),
    'kite': np.array([(1.2, 0), (0.0, 0.55), (-0.6, 0), (0.0, -0.55)]),
}

_SUPERSAMPLE = 4  # polygons are drawn at 4x and area-downsampled: anti-aliased edges at 32 px


@dataclass(frozen=True)
class Domain:
    """What a dataset's videos look like (everything except the action).

    Args:
        size: frame size (H, W).
        n_frames: frames per clip.
        shapes: object shapes drawn from ``SHAPES``.
        palette: 'random' (any colour), 'saturated' (vivid hues) or 'dull' (low-contrast greys/browns).
        background: 'plain', 'stripes', 'checker', 'gradient' or 'blobs'.
        noise: std of per-pixel Gaussian noise (0-255 scale).
        camera: 'none', 'pan' (slow linear drift of the whole view) or 'shake' (random jitter).
        distractor: draw a second, smaller object in random motion.
        min_contrast: minimum mean colour distance between object and background.
        object_size: object radius as a fraction of the frame's short side.
    """
    size: tuple[int, int] = (32, 32)
    n_frames: int = 8
    shapes: tuple[str, ...] = ('triangle', 'arrow', 'bar', 'ell')
    palette: str = 'random'
    background: str = 'plain'
    noise: float = 4.0
    camera: str = 'none'
    distractor: bool = False
    min_contrast: float = 80.0
    object_size: float = 0.2
    extra: dict = field(default_factory=dict)


def _colour(rng: np.random.Generator, palette: str) -> np.ndarray:
    if palette == 'saturated':
        hsv = np.uint8([[[rng.integers(0, 180), rng.integers(190, 256), rng.integers(170, 256)]]])
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
    if palette == 'dull':
        base = rng.uniform(60, 190)
        return np.clip(base + rng.normal(0, 15, 3), 0, 255).astype(np.float32)
    return rng.uniform(0, 255, 3).astype(np.float32)


def _contrasting(rng, palette, against, min_contrast, tries=30) -> np.ndarray:
    best, best_d = None, -1.0
    for _ in range(tries):
        c = _colour(rng, palette)
        d = float(np.abs(c - against).mean())
        if d >= min_contrast:
            return c
        if d > best_d:
            best, best_d = c, d
    return best


def background(rng: np.random.Generator, domain: Domain, pad: int) -> np.ndarray:
    """A float32 BGR canvas of size (H + 2 pad, W + 2 pad) with the domain's texture."""
    h, w = domain.size[0] + 2 * pad, domain.size[1] + 2 * pad
    c1, c2 = _colour(rng, domain.palette), _colour(rng, domain.palette)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = domain.background
    if kind == 'plain':
        m = np.zeros((h, w), np.float32)
    elif kind == 'stripes':
        a, period = rng.uniform(0, math.pi), rng.uniform(5, 10)
        m = 0.5 + 0.5 * np.sin((xx * math.cos(a) + yy * math.sin(a)) * 2 * math.pi / period)
    elif kind == 'checker':
        cell = int(rng.integers(4, 8))
        m = (((xx // cell) + (yy // cell)) % 2).astype(np.float32)
    elif kind == 'gradient':
        a = rng.uniform(0, 2 * math.pi)
        g = xx * math.cos(a) + yy * math.sin(a)
        m = (g - g.min()) / max(float(np.ptp(g)), 1e-6)
    elif kind == 'blobs':
        m = cv2.GaussianBlur(rng.uniform(0, 1, (h, w)).astype(np.float32), (0, 0), 3)
        m = (m - m.min()) / max(float(np.ptp(m)), 1e-6)
    else:
        raise ValueError(f'unknown background {kind!r}')
    return c1[None, None, :] * (1 - m[..., None]) + c2[None, None, :] * m[..., None]


def _polygon_mask(shape: np.ndarray, cx: float, cy: float, angle: float, radius: float,
                  size: tuple[int, int]) -> np.ndarray:
    """Anti-aliased float mask in [0, 1] of a rotated, scaled polygon centred at (cx, cy) pixels."""
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    pts = (shape @ rot.T) * radius + np.array([cx, cy])
    big = np.zeros((size[0] * _SUPERSAMPLE, size[1] * _SUPERSAMPLE), np.uint8)
    cv2.fillPoly(big, [np.round(pts * _SUPERSAMPLE).astype(np.int32)], 255)
    small = cv2.resize(big, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0


def render_clip(rng: np.random.Generator, domain: Domain, poses: list[Pose]) -> np.ndarray:
    """Render ``len(poses)`` frames of one clip.

    Args:
        rng: the clip's own random generator (colours, shape, anchor, camera, noise).
        domain: the dataset's look.
        poses: per-frame object poses from ``motions.trajectory``.

    Returns:
        uint8 array [T, H, W, 3] (BGR).
    """
    h, w = domain.size
    short = min(h, w)
    pad = max(4, short // 4)
    bg = background(rng, domain, pad)
    colour = _contrasting(rng, domain.palette, bg.mean(axis=(0, 1)), domain.min_contrast)
    shape = SHAPES[domain.shapes[int(rng.integers(len(domain.shapes)))]]
    if rng.random() < 0.5:
        shape = shape * np.array([1.0, -1.0])  # mirror: same motion semantics, more appearance variety
    radius = domain.object_size * short * rng.uniform(0.85, 1.15)
    ax, ay = rng.uniform(0.4, 0.6) * w, rng.uniform(0.4, 0.6) * h
    # Camera: offsets of the view (pixels) applied to background and objects alike.
    n = len(poses)
    if domain.camera == 'pan':
        v = rng.uniform(-1, 1, 2) * pad / max(n, 1)
        cam = np.outer(np.arange(n) - n / 2, v)
    elif domain.camera == 'shake':
        cam = rng.normal(0, 0.06 * short, (n, 2))
    else:
        cam = np.zeros((n, 2))
    cam = np.clip(cam, -pad + 1, pad - 1)
    if domain.distractor:
        dshape = SHAPES[domain.shapes[int(rng.integers(len(domain.shapes)))]]
        dcol = _colour(rng, domain.palette)
        dpos = np.cumsum(rng.normal(0, 0.05 * short, (n, 2)), axis=0) + rng.uniform(0.2, 0.8, 2) * [w, h]
        drad = radius * 0.6
    frames = np.empty((n, h, w, 3), np.uint8)
    for f, (dx, dy, angle, scale, visible) in enumerate(poses):
        ox, oy = int(round(pad + cam[f, 0])), int(round(pad + cam[f, 1]))
        img = bg[oy:oy + h, ox:ox + w].copy()
        if domain.distractor:
            m = _polygon_mask(dshape, dpos[f, 0] - cam[f, 0], dpos[f, 1] - cam[f, 1], 0.3 * f, drad, (h, w))
            img = img * (1 - m[..., None]) + dcol * m[..., None]
        if visible:
            m = _polygon_mask(shape, ax + dx * w - cam[f, 0], ay + dy * h - cam[f, 1], angle, radius * scale,
                              (h, w))
            img = img * (1 - m[..., None]) + colour * m[..., None]
        if domain.noise:
            img = img + rng.normal(0, domain.noise, img.shape)
        frames[f] = np.clip(img, 0, 255).astype(np.uint8)
    return frames


def write_video(path: str, frames: np.ndarray, fps: int = 8) -> None:
    """Write BGR frames as an MPEG-4 (mp4v) file, which decord (MMAction2's reader) decodes.

    Raises:
        OSError: if OpenCV cannot open a writer or the file ends up empty.
    """
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
    if not writer.isOpened():
        raise OSError(f'OpenCV cannot open an mp4v VideoWriter for {path}')
    try:
        for fr in frames:
            writer.write(np.ascontiguousarray(fr))
    finally:
        writer.release()
