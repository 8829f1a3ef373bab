"""Motion primitives: pure functions from normalised time to an object's pose.

A pose is ``(dx, dy, angle, scale, visible)``: offset from the clip's anchor point in units of the frame
size, rotation in radians, a scale factor and whether the object is drawn. Every action class of every
synthetic dataset is a set of these primitives (``datasets.py``), so classes of different datasets share
motion semantics while their vocabularies and granularities differ.
"""
from __future__ import annotations

import math

import numpy as np

Pose = tuple[float, float, float, float, bool]

_DIRS = {
    'right': (1, 0), 'left': (-1, 0), 'up': (0, -1), 'down': (0, 1),
    'up_right': (1, -1), 'up_left': (-1, -1), 'down_right': (1, 1), 'down_left': (-1, 1),
}


def pose(motion: str, t: float, amp: float, phase: float) -> Pose:
    """The pose of an object performing ``motion`` at time ``t``.

    Args:
        motion: a primitive name (see ``PRIMITIVES``).
        t: normalised time in [0, 1] over the action segment.
        amp: motion amplitude as a fraction of the frame size (per-clip random).
        phase: per-clip random phase in [0, 2 pi), so no two clips of a class are identical.

    Returns:
        ``(dx, dy, angle, scale, visible)``.
    """
    s = t - 0.5
    if motion in _DIRS:
        ux, uy = _DIRS[motion]
        norm = math.hypot(ux, uy)
        return (2 * amp * s * ux / norm, 2 * amp * s * uy / norm, phase, 1.0, True)
    if motion == 'rotate_cw':
        return (0.0, 0.0, phase + 1.4 * math.pi * t, 1.0, True)
    if motion == 'rotate_ccw':
        return (0.0, 0.0, phase - 1.4 * math.pi * t, 1.0, True)
    if motion == 'grow':
        return (0.0, 0.0, phase, 0.45 + 1.1 * t, True)
    if motion == 'shrink':
        return (0.0, 0.0, phase, 1.55 - 1.1 * t, True)
    if motion == 'shake_h':
        return (amp * math.sin(4 * math.pi * t + phase) * 0.7, 0.0, 0.0, 1.0, True)
    if motion == 'shake_v':
        return (0.0, amp * math.sin(4 * math.pi * t + phase) * 0.7, 0.0, 1.0, True)
    if motion in ('orbit_cw', 'orbit_ccw'):
        sign = 1 if motion == 'orbit_cw' else -1  # image y points down: +angle is clockwise on screen
        a = phase + sign * 2 * math.pi * t
        return (0.8 * amp * math.cos(a), 0.8 * amp * math.sin(a), 0.0, 1.0, True)
    if motion == 'zigzag':
        tri = 2 * abs(2 * ((2 * t + phase / math.tau) % 1.0) - 1) - 1  # triangle wave, 2 periods
        return (2 * amp * s, 0.6 * amp * tri, 0.0, 1.0, True)
    if motion == 'bounce':
        sign = 1 if phase < math.pi else -1
        return (2 * amp * s * sign, amp * (abs(math.cos(2 * math.pi * t)) - 0.5) * -1.4,
                0.0, 1.0, True)
    if motion == 'blink':
        return (0.0, 0.0, phase, 1.0, bool(int(t * 6 + phase) % 2 == 0))
    if motion == 'still':
        return (0.0, 0.0, phase, 1.0, True)
    raise KeyError(motion)


PRIMITIVES = tuple(_DIRS) + ('rotate_cw', 'rotate_ccw', 'grow', 'shrink', 'shake_h', 'shake_v', 'orbit_cw',
                             'orbit_ccw', 'zigzag', 'bounce', 'blink', 'still')


def trajectory(motion: str, n_frames: int, amp: float, phase: float, segment: tuple[int, int] | None = None,
               jitter: float = 0.0, rng: np.random.Generator | None = None) -> list[Pose]:
    """Poses for ``n_frames`` frames; outside ``segment`` (start, end) the object rests (background).

    Args:
        motion: primitive name.
        n_frames: clip length.
        amp: amplitude (fraction of frame size).
        phase: random phase.
        segment: frames ``[start, end)`` in which the action happens; None means the whole clip.
        jitter: std of small random pose noise (fraction of frame size) in background frames, so that
            background is not perfectly static.
        rng: random generator for the jitter.
    """
    start, end = segment if segment is not None else (0, n_frames)
    poses = []
    span = max(end - start - 1, 1)
    first = pose(motion, 0.0, amp, phase)
    last = pose(motion, 1.0, amp, phase)
    for f in range(n_frames):
        if f < start:
            p = first[:4] + (True,)
        elif f >= end:
            p = last[:4] + (True,)
        else:
            p = pose(motion, (f - start) / span, amp, phase)
        if jitter and rng is not None and not (start <= f < end):
            p = (p[0] + rng.normal(0, jitter), p[1] + rng.normal(0, jitter)) + p[2:]
        poses.append(p)
    return poses
