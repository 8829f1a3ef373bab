"""Tests for the video-level expert: registry build, modality slicing, extraction hook, dataset checks,
and (integration) mmengine Runner training + the feature-store builder on a synthetic YouTube-8M copy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from jedi_repro.data import yt8m
from jedi_repro.experts import video_level_expert as E
from jedi_repro.registry import DATASETS, MODELS


@pytest.fixture(autouse=True)
def _mmaction_scope():
    # outside a Runner, 'ActionDataPreprocessor' and 'PackActionInputs' resolve in the mmaction scope
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmaction'):
        yield


def _model(modality='rgb+audio', hidden=16, num_classes=3, num_layers=1):
    return MODELS.build(dict(
        type='VideoLevelRecognizer',
        backbone=dict(type='VideoLevelMLP', modality=modality, hidden=hidden, num_layers=num_layers),
        cls_head=dict(type='TSNHead', num_classes=num_classes, in_channels=hidden, spatial_type=None)))


def test_recognizer_builds_from_registry_and_head_ends_in_linear():
    torch.manual_seed(0)
    model = _model(num_layers=2).eval()
    assert isinstance(model.cls_head.fc_cls, torch.nn.Linear)
    x = torch.randn(5, E.INPUT_DIM)
    scores = model(x, mode='tensor', stage='head')
    assert scores.shape == (5, 3)
    feats = E.penultimate_features(model, x.numpy(), np.arange(5) % 3, batch_size=2)  # several batches
    assert feats.shape == (5, 16)
    torch.testing.assert_close(model(x, mode='tensor', stage='backbone'), torch.from_numpy(feats))
    w, b = E.head_params(model)
    np.testing.assert_allclose(feats @ w.T + b, scores.detach().numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('modality, cols', [('rgb', (0, 1024)), ('audio', (1024, 1152))])
def test_backbone_reads_only_its_modality(modality, cols):
    torch.manual_seed(0)
    model = _model(modality=modality).eval()
    x = torch.randn(4, E.INPUT_DIM)
    y = x.clone()
    other = np.setdiff1d(np.arange(E.INPUT_DIM), np.arange(*cols))
    y[:, other] = torch.randn(4, len(other)) * 100  # the modality it does not see changes wildly
    torch.testing.assert_close(model.backbone(x), model.backbone(y))
    y[:, cols[0]] += 5.0
    assert not torch.allclose(model.backbone(x), model.backbone(y))


def test_bad_modality_and_input_shape_raise_named_errors():
    with pytest.raises(E.ExpertError, match="modality 'video'"):
        _model(modality='video')
    with pytest.raises(E.ExpertError, match=r'input shape \(2, 1024\)'):
        _model().eval().backbone(torch.zeros(2, 1024))


def test_feature_dataset_packs_audios_and_checks_file(tmp_path):
    f = E.write_split_file(tmp_path / 'd.npz', np.ones((3, E.INPUT_DIM)), np.array([0, 1, 2]))
    ds = DATASETS.build(dict(type='VideoFeatureDataset', ann_file=str(f), num_classes=3,
                             pipeline=[dict(type='PackActionInputs')]))
    item = ds[1]
    assert item['inputs'].shape == (E.INPUT_DIM,) and int(item['data_samples'].gt_label) == 1
    with pytest.raises(E.ExpertError, match=r'd.npz: labels outside \[0, 2\)'):
        DATASETS.build(dict(type='VideoFeatureDataset', ann_file=str(f), num_classes=2))
    bad = np.ones((3, E.INPUT_DIM))
    bad[1, 7] = np.nan
    g = E.write_split_file(tmp_path / 'nan.npz', bad, np.array([0, 1, 2]))
    with pytest.raises(E.ExpertError, match='nan.npz: features contain NaN'):
        DATASETS.build(dict(type='VideoFeatureDataset', ann_file=str(g)))
    with pytest.raises(E.ExpertError, match='missing.npz does not exist'):
        DATASETS.build(dict(type='VideoFeatureDataset', ann_file=str(tmp_path / 'missing.npz')))


def test_settings_load_and_reject_unknown_keys(tmp_path):
    for name in ('main', 'scarce', 'hetero'):
        s = E.load_setting(E.CONFIG_DIR / f'setting_{name}.py')
        assert s.name == name and set(s.experts) == {yt8m.slugify(v) for v in s.cut['verticals']}
    assert E.load_setting(E.CONFIG_DIR / 'setting_scarce.py').labeled_fraction == 0.1
    bad = tmp_path / 'setting_bad.py'
    bad.write_text("name='x'\ncut=dict()\nlabeled_fraction=0.5\nexperts=dict(a=dict(widht=3))\n")
    with pytest.raises(E.ExpertError, match=r"setting_bad.py: experts.a: unknown key\(s\) \['widht'\]"):
        E.load_setting(bad)
    with pytest.raises(E.ExpertError, match='setting_nope.py does not exist'):
        E.load_setting(tmp_path / 'setting_nope.py')


def test_expert_name_says_what_it_sees():
    spec = dict(modality='rgb+audio', hidden=256, num_layers=1)
    assert E.expert_name('sports', spec) == 'sports_rgbaudio256'
    assert E.expert_name('arts', dict(modality='audio', hidden=64, num_layers=2)) == 'arts_audio64x2'


@pytest.mark.integration
def test_runner_trains_expert_and_builds_store(synth_yt8m, tmp_path):
    """Runner training on learnable synthetic data beats chance; the store holds every n x n block."""
    from mmengine.config import Config

    from jedi_repro.data.feature_store import FeatureStore
    torch.set_num_threads(1)
    data_dir, _ = synth_yt8m
    d = yt8m.load_yt8m(data_dir)
    cut = yt8m.cut_datasets(d.label_offsets, d.label_values, d.vocab, verticals=('Sports', 'Autos'),
                            k=2, min_per_class=1, fractions=(0.5, 0.25, 0.25))
    # make the class visible in the audio features so an audio-only expert can learn it
    for c in cut:
        for s, v in c.videos.items():
            d.audio[v] += (c.labels[s][:, None] * 4.0 - 2.0).astype(np.float16)
    setting = Config(dict(name='t', cut={}, labeled_fraction=1.0, labeled_seed=0,
                          experts=dict(sports=dict(modality='audio', hidden=8, max_epochs=40),
                                       autos=dict(modality='rgb', hidden=4, num_layers=2, max_epochs=2))))
    summary = E.build_yt8m_store(d, cut, setting, tmp_path / 'store', tmp_path / 'experts',
                                 log=lambda s: None)
    assert set(summary) == {'sports_audio8', 'autos_rgb4x2'}
    assert summary['sports_audio8']['val']['acc/top1'] >= 0.75  # 2 classes, separable in audio
    store = FeatureStore.open(tmp_path / 'store')
    assert store.expert_names == ['sports_audio8', 'autos_rgb4x2']
    for ex, dim in (('sports_audio8', 8), ('autos_rgb4x2', 4)):
        for c in cut:
            for s in yt8m.SPLITS:
                assert store.features(ex, c.name, s).shape == (len(c.videos[s]), dim)
    np.testing.assert_array_equal(store.labels('autos', 'test'), cut[1].labels['test'])
    # the expert's head in the store reproduces its own predictions on its own dataset
    w, b = store.head('sports_audio8')
    pred = (np.asarray(store.features('sports_audio8', 'sports', 'test')) @ w.T + b).argmax(1)
    own_top1 = summary['sports_audio8']['test_top1']
    assert float((pred == cut[0].labels['test']).mean()) == pytest.approx(own_top1)
    ckpt = torch.load(tmp_path / 'experts' / 'sports_audio8' / 'expert.pth', weights_only=True)
    assert ckpt['meta']['modality'] == 'audio'


@pytest.mark.integration
def test_real_data_cut_matches_documented_sizes():
    """The default cut on the real file (skipped when ../shared/data/yt8m is absent)."""
    try:
        data_dir = yt8m.resolve_data_dir()
    except yt8m.YT8MDataError as exc:
        pytest.skip(str(exc))
    d = yt8m.load_yt8m(data_dir)
    assert len(d) == 28792
    cut = yt8m.cut_datasets(d.label_offsets, d.label_values, d.vocab)
    sizes = {c.name: (len(c.classes), c.sizes()['train'], c.sizes()['val'], c.sizes()['test']) for c in cut}
    assert sizes == {'sports': (7, 1089, 363, 363), 'autos_vehicles': (7, 1120, 371, 375),
                     'arts_entertainment': (8, 2845, 947, 948), 'beauty_fitness': (3, 170, 56, 56)}
    videos = [np.concatenate(list(c.videos.values())) for c in cut]
    assert len(np.unique(np.concatenate(videos))) == sum(len(v) for v in videos)  # disjoint
