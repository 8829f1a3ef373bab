import shutil

import numpy as np
import pytest
import torch

from jedi_repro.data.feature_store import FeatureStore
from jedi_repro.errors import JediError
from jedi_repro.experts.config import load_expert_config
from jedi_repro.experts.data_root import read_data_root
from jedi_repro.experts.extract import (
    BF16_FEATURE_REL_TOL,
    BF16_TOP1_AGREEMENT,
    ExpertSpec,
    build_expert,
    build_loader,
    extract,
    head_params,
    penultimate_features,
)


def _spec(untrained_expert):
    config, ckpt = untrained_expert
    return ExpertSpec(config, ckpt)


def test_penultimate_features_reproduce_the_models_scores(tiny_root, untrained_expert):
    """features @ W.T + b, softmaxed, is exactly what the recognizer predicts: the hook sits right."""
    config, ckpt = untrained_expert
    cfg = load_expert_config(config, data_root=tiny_root.parent / tiny_root.name)
    model = build_expert(cfg, ckpt)
    (ds,) = read_data_root(tiny_root)
    loader = build_loader(cfg, ds.splits['val'], ds.video_prefix, batch_size=5)
    feats, labels = penultimate_features(model, loader)
    w, b = head_params(model)
    assert feats.shape == (12, w.shape[1]) and feats.dtype == np.float32
    expected = [int(line.split()[1]) for line in ds.splits['val'].read_text().split('\n') if line]
    assert labels.tolist() == expected
    scores = []
    with torch.no_grad():
        for batch in loader:
            scores += [s.pred_score for s in model.test_step(batch)]
    probs = torch.softmax(torch.from_numpy(feats @ w.T + b), 1)
    torch.testing.assert_close(probs, torch.stack(scores), atol=1e-5, rtol=1e-4)


def test_bf16_stays_within_the_stated_tolerance(tiny_root, untrained_expert):
    config, ckpt = untrained_expert
    cfg = load_expert_config(config)
    model = build_expert(cfg, ckpt)
    (ds,) = read_data_root(tiny_root)
    loader = build_loader(cfg, ds.splits['val'], ds.video_prefix, batch_size=6)
    f32, _ = penultimate_features(model, loader)
    f16, _ = penultimate_features(model, loader, bf16=True)
    rel = np.linalg.norm(f16 - f32) / np.linalg.norm(f32)
    assert rel < BF16_FEATURE_REL_TOL
    w, b = head_params(model)
    agree = ((f16 @ w.T + b).argmax(1) == (f32 @ w.T + b).argmax(1)).mean()
    assert agree >= BF16_TOP1_AGREEMENT


def test_channels_last_gives_the_same_features(tiny_root, untrained_expert):
    config, ckpt = untrained_expert
    cfg = load_expert_config(config)
    (ds,) = read_data_root(tiny_root)
    loader = build_loader(cfg, ds.splits['val'], ds.video_prefix, batch_size=6)
    f32, _ = penultimate_features(build_expert(cfg, ckpt), loader)
    fcl, _ = penultimate_features(build_expert(cfg, ckpt, channels_last=True), loader)
    assert np.linalg.norm(fcl - f32) / np.linalg.norm(f32) < 1e-4


def test_extract_writes_store_and_reuses_cache(tiny_root, untrained_expert, tmp_path):
    spec = _spec(untrained_expert)
    r1 = extract(tiny_root, tmp_path / 'store', experts=[spec], show_progress=False, log=None)
    assert (r1['computed'], r1['cached'], r1['blocks']) == (3, 0, 3)
    store = FeatureStore.open(tmp_path / 'store')
    assert store.expert_names == ['x3d_hmdb_like'] and store.dataset_names == ['hmdb_like']
    w, b = store.head('x3d_hmdb_like')
    assert w.shape == (6, 2048) and store.features('x3d_hmdb_like', 'hmdb_like', 'train').shape == (24, 2048)
    mask = store.labeled_mask('hmdb_like')
    assert 0 < mask.sum() < len(mask)
    first = np.array(store.features('x3d_hmdb_like', 'hmdb_like', 'test'))

    r2 = extract(tiny_root, tmp_path / 'store2', experts=[_spec(untrained_expert)], show_progress=False,
                 log=None)
    assert (r2['computed'], r2['cached']) == (0, 3)
    np.testing.assert_array_equal(FeatureStore.open(tmp_path / 'store2').features(
        'x3d_hmdb_like', 'hmdb_like', 'test'), first)

    # A changed list (one line dropped) is a different block: recomputed, the others come from the cache.
    lst = tiny_root / 'hmdb_like' / 'val.txt'
    original = lst.read_text()
    try:
        lst.write_text('\n'.join(original.split('\n')[1:]))
        r3 = extract(tiny_root, tmp_path / 'store3', experts=[_spec(untrained_expert)], show_progress=False,
                     log=None)
        assert (r3['computed'], r3['cached']) == (1, 2)
    finally:
        lst.write_text(original)


def _broken_copy(tiny_root, tmp_path, how):
    root = tmp_path / 'root'
    shutil.copytree(tiny_root, root)
    rel = (root / 'hmdb_like' / 'test.txt').read_text().split()[2]   # second test video
    video = root / 'hmdb_like' / rel
    if how == 'missing':
        video.unlink()
    else:
        video.write_bytes(video.read_bytes()[:60])                  # truncated container
    return root, video


@pytest.mark.parametrize('how', ['missing', 'corrupt'])
def test_bad_video_is_a_clear_error(tiny_root, untrained_expert, tmp_path, how):
    root, video = _broken_copy(tiny_root, tmp_path, how)
    with pytest.raises(JediError, match='skip-bad-videos') as e:
        extract(root, tmp_path / 'store', experts=[_spec(untrained_expert)], show_progress=False, log=None)
    assert str(video) in str(e.value)
    assert not (tmp_path / 'store').exists()                          # nothing half-written


def test_skip_bad_videos_drops_and_counts(tiny_root, untrained_expert, tmp_path):
    root, video = _broken_copy(tiny_root, tmp_path, 'corrupt')
    r = extract(root, tmp_path / 'store', experts=[_spec(untrained_expert)], skip_bad_videos=True,
                show_progress=False, log=None)
    assert r['skipped_videos'] == {'hmdb_like/test': 1}
    store = FeatureStore.open(tmp_path / 'store')
    assert len(store.labels('hmdb_like', 'test')) == 11
    assert store.features('x3d_hmdb_like', 'hmdb_like', 'test').shape[0] == 11
    assert np.abs(np.asarray(store.features('x3d_hmdb_like', 'hmdb_like', 'test'))).sum(1).min() > 0


def test_missing_checkpoint_and_unknown_dataset(tiny_root, untrained_expert, tmp_path):
    config, _ = untrained_expert
    with pytest.raises(JediError, match='jedi experts train'):
        extract(tiny_root, tmp_path / 's', experts=[ExpertSpec(config, tmp_path / 'none.pth')], log=None)
    other = config.parents[1] / 'r3d18_kinetics_like.py'
    with pytest.raises(JediError, match='kinetics_like'):
        extract(tiny_root, tmp_path / 's', experts=[ExpertSpec(other, untrained_expert[1])], log=None)


def test_cli_extract_error_exit_code(tiny_root, untrained_expert, tmp_path, capsys):
    from jedi_repro.cli import main
    root, video = _broken_copy(tiny_root, tmp_path, 'missing')
    config, ckpt = untrained_expert
    rc = main(['extract', '--data-root', str(root), '--experts', f'{config}={ckpt}', '--out',
               str(tmp_path / 's')])
    err = capsys.readouterr().err.replace('\n  ', '')  # undo the CLI's line wrapping
    assert rc == 1 and str(video) in err and 'Traceback' not in err
