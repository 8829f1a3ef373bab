"""jedi features import-mmaction: per-video outputs written the way clip_feature_extraction writes them."""
import json

import numpy as np
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine import dump

from jedi_repro.data.feature_store import FeatureStore
from jedi_repro.data.importers import PickleRefused, import_mmaction, video_feature
from jedi_repro.errors import JediError

D, C = 6, 3


def _write_outputs(prefix, videos, rng, dim=D):
    """What split_feats() in tools/misc/clip_feature_extraction.py dumps: one to_dict() per video."""
    feats = []
    for rel in videos:
        f = rng.normal(size=dim).astype(np.float32)
        sample = ActionDataSample().set_pred_score(torch.from_numpy(f))
        sample.set_gt_label(0)
        dump(sample.to_dict(), str(prefix / (rel + '.pkl')))   # mmengine.dump creates parent dirs
        feats.append(f)
    return np.stack(feats)


@pytest.fixture
def setup(tmp_path):
    rng = np.random.default_rng(0)
    lists = {'train': ['a/v0.mp4 0', 'a/v1.mp4 1', 'b/v2.mp4 2', 'b/v3.mp4 1'], 'val': ['d/v6.mp4 1'],
             'test': ['c/v4.mp4 2', 'c/v5.mp4 0']}
    for split, lines in lists.items():
        (tmp_path / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    (tmp_path / 'labeled.txt').write_text('a/v0.mp4 0\nb/v2.mp4 2\n')
    head = dict(state_dict={'cls_head.fc_cls.weight': torch.randn(C, D),
                            'cls_head.fc_cls.bias': torch.randn(C)},
                meta={})
    torch.save(head, tmp_path / 'expert.pth')
    expected = {s: _write_outputs(tmp_path / 'feats' / s, [line.split()[0] for line in lines], rng)
                for s, lines in lists.items()}
    spec = dict(
        datasets=dict(toy=dict(classes=['x', 'y', 'z'], metric='mAP',
                               splits=dict(train='train.txt', val='val.txt', test='test.txt'),
                               labeled='labeled.txt')),
        experts=dict(tsn_toy=dict(dataset='toy', checkpoint='expert.pth',
                                  features=dict(toy=dict(train='feats/train', val='feats/val',
                                                                  test='feats/test')))))
    (tmp_path / 'spec.json').write_text(json.dumps(spec))
    return tmp_path, expected, head


def test_import_roundtrip(setup):
    root, expected, head = setup
    out = import_mmaction(root / 'spec.json', root / 'store', trust_pickle=True)
    store = FeatureStore.open(out)
    np.testing.assert_allclose(store.features('tsn_toy', 'toy', 'train'), expected['train'])
    np.testing.assert_allclose(store.features('tsn_toy', 'toy', 'test'), expected['test'])
    assert store.labels('toy', 'train').tolist() == [0, 1, 2, 1]
    assert store.labeled_mask('toy').tolist() == [True, False, True, False]
    assert store.dataset('toy')['metric'] == 'mAP'
    w, b = store.head('tsn_toy')
    np.testing.assert_allclose(w, head['state_dict']['cls_head.fc_cls.weight'].numpy())


def test_refuses_pickles_without_trust(setup):
    root, _, _ = setup
    with pytest.raises(PickleRefused, match='--trust-pickle'):
        import_mmaction(root / 'spec.json', root / 'store')
    assert not (root / 'store').exists()


def test_cli_refusal_and_success(setup, capsys):
    from jedi_repro.cli import main
    root, _, _ = setup
    assert main(['features', 'import-mmaction', str(root / 'spec.json'), '--out', str(root / 's')]) == 1
    assert '--trust-pickle' in capsys.readouterr().err
    assert main(['features', 'import-mmaction', str(root / 'spec.json'), '--out', str(root / 's'),
                 '--trust-pickle']) == 0
    assert 'tsn_toy' in capsys.readouterr().out


def test_missing_video_output_and_dim_mismatch(setup):
    root, _, _ = setup
    (root / 'feats' / 'test' / 'c' / 'v5.mp4.pkl').unlink()
    with pytest.raises(JediError, match='v5.mp4.pkl'):
        import_mmaction(root / 'spec.json', root / 'store', trust_pickle=True)
    _write_outputs(root / 'feats' / 'test', ['c/v5.mp4'], np.random.default_rng(1), dim=D + 1)
    with pytest.raises(JediError, match='differs'):
        import_mmaction(root / 'spec.json', root / 'store', trust_pickle=True)


def test_unknown_spec_key_is_named(setup):
    root, _, _ = setup
    spec = json.loads((root / 'spec.json').read_text())
    spec['experts']['tsn_toy']['head_layr'] = 'x'
    (root / 'spec.json').write_text(json.dumps(spec))
    with pytest.raises(JediError, match='head_layr'):
        import_mmaction(root / 'spec.json', root / 'store', trust_pickle=True)


def test_video_feature_formats(tmp_path):
    f = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(video_feature({'pred_score': torch.from_numpy(f)}, 'x'), f)
    np.testing.assert_array_equal(video_feature({'pred_scores': {'item': f}}, 'x'), f)   # older releases
    np.testing.assert_array_equal(video_feature(np.stack([f, f + 2]), 'x'), f + 1)        # long-video mode
    with pytest.raises(JediError, match='NaN'):
        video_feature(np.array([1.0, np.nan]), 'x.pkl')
    with pytest.raises(JediError, match='pred_score'):
        video_feature({'gt_label': 1}, 'x.pkl')
