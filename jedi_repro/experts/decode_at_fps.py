"""``DecodeAtFps``: an MMAction2 test-pipeline transform that opens, samples and decodes a clip at the
model's frame rate (``jedi_repro.data.video``), in place of ``DecordInit`` + ``SampleFrames`` +
``DecordDecode``, which count source frames (a 30 fps clip would run 20 % slower through a 25 fps
network) and cannot open GIFs."""
from __future__ import annotations

from mmcv.transforms import BaseTransform

from jedi_repro.data.video import open_video, sample_at_fps
from jedi_repro.registry import TRANSFORMS


@TRANSFORMS.register_module()
class DecodeAtFps(BaseTransform):
    """Decode ``num_clips`` windows of ``clip_len`` frames at ``fps`` from ``results['filename']``.

    Windows are evenly spaced over the clip (one: the centre window); a clip shorter than a window is
    looped, one shorter than ``min_frames`` at ``fps`` is refused (``VideoError`` naming the file).

    Args:
        clip_len: frames per window.
        fps: the model's frame rate.
        num_clips: windows per clip (their features are averaged by ``jedi extract``).
        min_frames: the network's shortest input.
    """

    def __init__(self, clip_len: int, fps: float, num_clips: int = 1, min_frames: int = 1):
        self.clip_len, self.fps = int(clip_len), float(fps)
        self.num_clips, self.min_frames = int(num_clips), int(min_frames)

    def transform(self, results: dict) -> dict:
        video = open_video(results['filename'])
        inds = sample_at_fps(video, self.fps, self.clip_len, self.num_clips, self.min_frames)
        frames = video.get(inds)
        results.update(imgs=list(frames), frame_inds=inds, clip_len=self.clip_len, num_clips=self.num_clips,
                       frame_interval=None, total_frames=video.num_frames, avg_fps=video.fps,
                       original_shape=frames.shape[1:3], img_shape=frames.shape[1:3])
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(clip_len={self.clip_len}, fps={self.fps}, '
                f'num_clips={self.num_clips}, min_frames={self.min_frames})')


def pipeline_clip_problem(cfg, path) -> str | None:
    """Why the test pipeline of ``cfg`` would refuse a clip (too short at its frame rate, an odd rate,
    undecodable), or None; checked before a model is built or a store is written. Pipelines without
    ``DecodeAtFps`` have nothing to add to ``video_problem``."""
    from jedi_repro.data.video import VideoError

    steps = [s for s in (cfg.get('test_pipeline') or []) if s.get('type') == 'DecodeAtFps']
    if not steps:
        return None
    step = DecodeAtFps(**{k: v for k, v in steps[0].items() if k != 'type'})
    try:
        sample_at_fps(open_video(path), step.fps, step.clip_len, step.num_clips, step.min_frames)
    except VideoError as exc:
        return str(exc)
    return None
