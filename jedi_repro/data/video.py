"""Reading real clips of any common container at a fixed frame rate: mp4 / h264 and AVI through decord,
GIF through Pillow (decord's FFmpeg build does not open GIFs).

``open_video`` returns the frame count, the start time of every frame and a frame getter; ``fps_indices``
maps a target rate onto source frames by time (nearest earlier frame), so a 28 fps mp4, a 25 fps AVI and
a GIF with per-frame durations all reach a network trained at 25 fps at the same speed.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jedi_repro.errors import JediError

#: frame rates outside this range are refused as a broken header, not resampled
MIN_FPS, MAX_FPS = 1.0, 240.0
GIF_SUFFIXES = ('.gif',)


class VideoError(JediError):
    """A clip that cannot be used: missing, undecodable, an odd frame rate or too short (file named)."""


@dataclass
class Video:
    """An opened clip: ``starts[i]`` is frame i's time in seconds, ``duration`` the clip's length."""
    path: Path
    starts: np.ndarray
    duration: float
    fps: float
    shape: tuple[int, int]
    get: Callable[[list[int]], np.ndarray]   # frame indices -> uint8 [K, H, W, 3] RGB

    @property
    def num_frames(self) -> int:
        return len(self.starts)


def _open_gif(path: Path) -> Video:
    from PIL import Image, ImageSequence

    with Image.open(path) as im:
        durations = [int(f.info.get('duration') or 0) for f in ImageSequence.Iterator(im)]
        size = im.size
    if not durations:
        raise VideoError(f'video {path}: the GIF has no frames')
    if min(durations) <= 0:
        bad = durations.index(min(durations))
        raise VideoError(f'video {path}: GIF frame {bad} has no duration ({durations[bad]} ms), so its frame '
                         'rate is undefined; re-encode it with a frame rate (e.g. ffmpeg -r 25)')
    ms = np.asarray(durations, np.float64)
    starts = np.concatenate([[0.0], np.cumsum(ms)[:-1]]) / 1000.0

    def get(indices):
        out = []
        with Image.open(path) as gif:
            for i in indices:
                gif.seek(int(i))
                out.append(np.asarray(gif.convert('RGB')))
        return np.stack(out)

    return Video(path, starts, float(ms.sum() / 1000.0), float(1000.0 * len(ms) / ms.sum()),
                 (size[1], size[0]), get)


def _open_decord(path: Path) -> Video:
    import decord

    try:
        vr = decord.VideoReader(str(path), num_threads=1)
        n, fps = len(vr), float(vr.get_avg_fps())
        h, w = vr[0].shape[:2] if n else (0, 0)
    except Exception as exc:  # decord raises DECORDError / RuntimeError for corrupt containers
        raise VideoError(f'video {path}: decord cannot decode it '
                         f'({str(exc).strip().splitlines()[-1][:200]})') from None
    if n == 0:
        raise VideoError(f'video {path}: no frames')
    if not math.isfinite(fps) or fps <= 0:
        raise VideoError(f'video {path}: the container states frame rate {fps!r}; re-encode it with a '
                         'frame rate (e.g. ffmpeg -r 25)')

    def get(indices):
        try:
            return vr.get_batch(list(map(int, indices))).asnumpy()
        except Exception as exc:
            raise VideoError(f'video {path}: frames {list(indices)[:3]}... do not decode '
                             f'({str(exc).strip().splitlines()[-1][:200]})') from None

    return Video(path, np.arange(n) / fps, n / fps, fps, (h, w), get)


def open_video(path: str | os.PathLike) -> Video:
    """Open a clip (GIF with Pillow, anything else with decord) and check its frame rate.

    Raises:
        VideoError: missing file, a file that does not decode, or a frame rate outside
            [``MIN_FPS``, ``MAX_FPS``] (a broken header: resampling it would invent or drop most frames).
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f'video {path}: file does not exist')
    if path.suffix.lower() in GIF_SUFFIXES:
        try:
            video = _open_gif(path)
        except VideoError:
            raise
        except Exception as exc:  # Pillow raises OSError / SyntaxError / EOFError for broken files
            raise VideoError(f'video {path}: Pillow cannot decode the GIF ({exc})') from None
    else:
        video = _open_decord(path)
    if not MIN_FPS <= video.fps <= MAX_FPS:
        raise VideoError(f'video {path}: frame rate {video.fps:.3g} fps is outside '
                         f'[{MIN_FPS:g}, {MAX_FPS:g}] (a broken header or a slide show, not a video); '
                         're-encode it at its real rate')
    return video


def fps_indices(starts: np.ndarray, duration: float, fps: float) -> np.ndarray:
    """Source frame shown at each tick ``k / fps`` of the clip (``0 <= k / fps < duration``)."""
    n = max(int(math.ceil(duration * fps - 1e-6)), 0)
    ticks = np.arange(n) / fps
    return np.clip(np.searchsorted(starts, ticks + 1e-9, side='right') - 1, 0, len(starts) - 1)


def window_starts(n: int, clip_len: int, num_clips: int) -> list[int]:
    """Start of each of ``num_clips`` evenly spaced ``clip_len`` windows over ``n`` frames (one: the
    centre window); all 0 when the clip is shorter than a window."""
    if n <= clip_len:
        return [0] * num_clips
    return [int((n - clip_len) * (j + 0.5) / num_clips) for j in range(num_clips)]


def sample_at_fps(video: Video, fps: float, clip_len: int, num_clips: int = 1,
                  min_frames: int = 1) -> np.ndarray:
    """Source frame indices ``[num_clips * clip_len]`` of ``num_clips`` windows of ``clip_len`` frames at
    ``fps``. A clip shorter than a window is looped (MMAction2's ``SampleFrames`` convention).

    Raises:
        VideoError: fewer than ``min_frames`` frames at ``fps`` (named with the clip's length).
    """
    at_rate = fps_indices(video.starts, video.duration, fps)
    if len(at_rate) < min_frames:
        raise VideoError(f'video {video.path}: {video.duration:.2f} s gives {len(at_rate)} frames at {fps:g} '
                         f'fps, fewer than the {min_frames} the network needs')
    out = [at_rate[(s + np.arange(clip_len)) % len(at_rate)]
           for s in window_starts(len(at_rate), clip_len, num_clips)]
    return np.concatenate(out)
