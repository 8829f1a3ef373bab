"""A real MMAction2 recognizer from a model-zoo config trains, checkpoints and resumes on torch 2.13.

This is the path every expert takes (issue 2): it exercises the compat fixes end to end
(``mmaction.models`` import, mmengine checkpoints under torch's ``weights_only`` default).
"""
from pathlib import Path

import pytest
import torch

import jedi_repro  # noqa: F401  (applies the compat fixes)

pytestmark = pytest.mark.integration

NUM_CLASSES = 3


def _zoo_config(rel: str):
    import mmaction
    from mmengine.config import Config

    path = Path(mmaction.__file__).parent / '.mim' / 'configs' / rel
    assert path.is_file(), f'model-zoo config missing from the wheel: {path}'
    return Config.fromfile(str(path))


class _ToyClips(torch.utils.data.Dataset):
    """Random uint8 clips in MMAction2's packed format (1 clip, NCTHW), labels cycling over classes."""

    def __init__(self, n=6, t=4, size=32):
        g = torch.Generator().manual_seed(0)
        self.clips = torch.randint(0, 256, (n, 1, 3, t, size, size), generator=g, dtype=torch.uint8)

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, i):
        from mmaction.structures import ActionDataSample

        sample = ActionDataSample()
        sample.set_gt_label(torch.tensor([i % NUM_CLASSES]))
        return dict(inputs=self.clips[i], data_samples=sample)


def _runner(work_dir, max_iters, resume=False):
    from mmengine.runner import Runner

    cfg = _zoo_config('recognition/x3d/x3d_s_13x6x1_facebook-kinetics400-rgb.py')
    model = cfg.model
    model.cls_head.num_classes = NUM_CLASSES
    model.cls_head.dropout_ratio = 0.0
    return Runner(
        model=model,
        work_dir=str(work_dir),
        train_dataloader=dict(dataset=_ToyClips(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='pseudo_collate')),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmaction',
        resume=resume,
        randomness=dict(seed=0),
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
    )


def test_zoo_recognizer_trains_checkpoints_and_resumes(tmp_path):
    runner = _runner(tmp_path, max_iters=1)
    runner.train()
    ckpt = tmp_path / 'iter_1.pth'
    assert ckpt.is_file()
    trained = {k: v.clone() for k, v in runner.model.state_dict().items()}

    # Loads with torch's default weights_only=True (no trust needed for our own checkpoints).
    state = torch.load(ckpt, map_location='cpu')
    assert state['meta']['iter'] == 1
    assert 'message_hub' in state

    resumed = _runner(tmp_path, max_iters=2, resume=True)
    resumed.load_or_resume()
    assert resumed.iter == 1
    for k, v in resumed.model.state_dict().items():
        assert torch.equal(v, trained[k]), f'{k} differs after resume'
    resumed.train()
    assert resumed.iter == 2
    assert (tmp_path / 'iter_2.pth').is_file()
