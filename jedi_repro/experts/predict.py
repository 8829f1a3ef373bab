"""``jedi experts predict EXPERT VIDEO...``: what an expert sees in a clip (top-k classes, probabilities).

The clip goes through the expert's own test pipeline and ``model.test_step``, as in ``jedi extract``, so
this is also the quickest check that a checkpoint, a config and a decoder agree before extracting a store.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from jedi_repro.errors import JediError


def resolve_expert(text: str):
    """``CONFIG[=CHECKPOINT]`` or the name of an imported expert (``jedi experts import NAME``) -> a loaded
    ``ExpertSpec`` (config, checkpoint, sha256)."""
    from jedi_repro.experts.extract import parse_expert_arg
    return parse_expert_arg(text).load()


def class_names(spec, meta: dict) -> list[str] | None:
    """The expert's class names: the checkpoint's ``meta['classes']`` (imported experts), else its data
    root's ``dataset.json``, else None (indices are shown)."""
    n = int(spec.cfg.model.cls_head.num_classes)
    names = meta.get('classes')
    if isinstance(names, list) and len(names) == n:
        return [str(c) for c in names]
    from jedi_repro.experts.config import data_paths
    try:
        found = data_paths(spec.cfg.data_root, spec.cfg.dataset_name)['classes']
    except (JediError, KeyError, TypeError):
        return None
    return found if found is not None and len(found) == n else None


def predict(expert: str, videos: list[str | os.PathLike], topk: int = 5) -> list[dict]:
    """Top-``topk`` classes of each video under an expert.

    Args:
        expert: ``CONFIG[=CHECKPOINT]`` or an imported expert's name.
        videos: clips in any format the expert's test pipeline decodes.
        topk: how many classes to list.

    Returns:
        ``[{'video', 'top': [{'label', 'name', 'prob'}], 'seconds'}]`` in input order; probabilities are
        the head's ``average_clips`` scores (softmax over classes, averaged over a clip's windows).

    Raises:
        JediError: a bad expert, or a video that is missing, does not decode or is too short (named).
    """
    import time

    import torch
    from mmengine.dataset import Compose, pseudo_collate

    from jedi_repro.data.files import load_expert_state
    from jedi_repro.experts.data_root import video_problem
    from jedi_repro.experts.decode_at_fps import pipeline_clip_problem
    from jedi_repro.experts.extract import build_expert

    spec = resolve_expert(expert)
    for v in videos:  # every clip is checked before the model is built
        why = video_problem(v)
        if why is not None:
            raise JediError(f'video {v} is unusable: {why}')
        why = pipeline_clip_problem(spec.cfg, v)
        if why is not None:
            raise JediError(f'{why} (test pipeline of {spec.config})')
    _, meta = load_expert_state(spec.checkpoint)
    names = class_names(spec, meta)
    model = build_expert(spec.cfg, spec.checkpoint, device='cpu')
    pipeline = Compose(spec.cfg.test_pipeline)
    out = []
    for v in videos:
        t0 = time.perf_counter()
        data = pipeline(dict(filename=str(Path(v)), label=-1, start_index=0, modality='RGB'))
        with torch.inference_mode():
            sample = model.test_step(pseudo_collate([data]))[0]
        prob = sample.pred_score.float().cpu().numpy()
        order = np.argsort(-prob, kind='stable')[:topk]
        out.append(dict(video=str(v), seconds=round(time.perf_counter() - t0, 2), top=[
            dict(label=int(i), name=names[i] if names else str(int(i)), prob=float(prob[i])) for i in order]))
    return out
