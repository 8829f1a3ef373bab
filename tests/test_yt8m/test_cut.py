"""Unit tests for jedi_repro.data.yt8m: loading, validation and the cutting recipe (synthetic npz)."""
from __future__ import annotations

import numpy as np
import pytest

from jedi_repro.data import yt8m
from jedi_repro.errors import JediError


def _cut(data_dir, **kw):
    d = yt8m.load_yt8m(data_dir)
    kw.setdefault('verticals', ('Sports', 'Autos'))
    kw.setdefault('k', 2)
    kw.setdefault('min_per_class', 1)
    return d, {c.name: c for c in yt8m.cut_datasets(d.label_offsets, d.label_values, d.vocab, **kw)}


def test_cut_keeps_single_label_videos_of_top_k_and_makes_verticals_disjoint(synth_yt8m):
    data_dir, labels = synth_yt8m
    d, cut = _cut(data_dir)
    assert set(cut) == {'sports', 'autos'}
    sports, autos = cut['sports'], cut['autos']
    # Football (21 videos) and Tennis (13) are the top-2; Golf and the unnamed label 90 are not classes
    assert sports.classes == ['Football', 'Tennis'] and sports.label_ids == [1, 2]
    assert autos.classes == ['Car', 'Truck']
    all_sports = np.concatenate(list(sports.videos.values()))
    all_autos = np.concatenate(list(autos.videos.values()))
    assert len(all_sports) == 12 + 9 + 2 and len(all_autos) == 10 + 8
    assert not set(all_sports) & set(all_autos)
    for split in yt8m.SPLITS:  # every kept video carries its class label and no other top-k label
        for v, y in zip(sports.videos[split], sports.labels[split]):
            carried = set(labels[v])
            assert sports.label_ids[y] in carried and len(carried & {1, 2}) == 1 and 11 not in carried


def test_splits_are_disjoint_stratified_and_deterministic(synth_yt8m):
    data_dir, _ = synth_yt8m
    _, a = _cut(data_dir, seed=3)
    _, b = _cut(data_dir, seed=3)
    _, c = _cut(data_dir, seed=4)
    s = a['sports']
    parts = [set(s.videos[x].tolist()) for x in yt8m.SPLITS]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    for split in yt8m.SPLITS:
        np.testing.assert_array_equal(s.videos[split], b['sports'].videos[split])
        assert set(s.labels[split].tolist()) == {0, 1}  # both classes in every split
    assert any(not np.array_equal(s.videos[x], c['sports'].videos[x]) for x in yt8m.SPLITS)


def test_min_per_class_drops_rare_classes_and_errors_when_too_few(synth_yt8m):
    data_dir, _ = synth_yt8m
    _, cut = _cut(data_dir, k=3, min_per_class=3)
    assert cut['sports'].classes == ['Football', 'Tennis']  # Golf (2 videos) dropped
    with pytest.raises(yt8m.YT8MDataError, match="vertical 'Autos'"):
        _cut(data_dir, min_per_class=9)  # Truck has 8 -> one class left


def test_stratified_split_fractions():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    tr, va, te = yt8m.stratified_split(y, (0.6, 0.2, 0.2), seed=0)
    assert len(tr) + len(va) + len(te) == 100
    assert [int((y[tr] == c).sum()) for c in range(3)] == [30, 18, 12]
    assert [int((y[te] == c).sum()) for c in range(3)] == [10, 6, 4]
    with pytest.raises(yt8m.YT8MDataError, match='sum to 1'):
        yt8m.stratified_split(y, (0.5, 0.2), seed=0)


def test_labeled_mask_per_class_fraction():
    y = np.repeat([0, 1], [40, 3])
    m = yt8m.labeled_mask(y, 0.1, seed=0)
    assert int(m[y == 0].sum()) == 4 and int(m[y == 1].sum()) == 1  # at least one per class
    with pytest.raises(yt8m.YT8MDataError, match='labeled fraction'):
        yt8m.labeled_mask(y, 0.0, seed=0)


def test_unknown_vertical_names_it(synth_yt8m):
    data_dir, _ = synth_yt8m
    with pytest.raises(yt8m.YT8MDataError, match="vertical 'Cooking'.*known verticals: Autos, Food, Sports"):
        _cut(data_dir, verticals=('Sports', 'Cooking'))


def test_missing_data_dir_names_the_path(tmp_path, monkeypatch):
    missing = tmp_path / 'nowhere'
    with pytest.raises(JediError, match=str(missing / yt8m.NPZ_NAME)):
        yt8m.resolve_data_dir(missing)
    monkeypatch.setenv(yt8m.ENV_VAR, str(missing))
    with pytest.raises(JediError, match='JEDI_YT8M'):
        yt8m.resolve_data_dir()


def test_default_dir_is_shared_data_next_to_repo(monkeypatch):
    monkeypatch.delenv(yt8m.ENV_VAR, raising=False)
    repo = yt8m.Path(yt8m.__file__).resolve().parents[2]
    assert yt8m.default_data_dir() == repo.parent / 'shared' / 'data' / 'yt8m'


@pytest.mark.parametrize('bad, match', [
    (lambda a: a.update(rgb=a['rgb'][:, :10]), r'rgb has shape'),
    (lambda a: a['audio'].__setitem__((0, 0), np.nan), r'audio contains NaN'),
    (lambda a: a.update(label_offsets=a['label_offsets'][::-1].copy()), r'label_offsets'),
    (lambda a: a.pop('ids'), r"missing array\(s\) \['ids'\]"),
])
def test_malformed_npz_names_file_and_field(synth_yt8m, bad, match):
    data_dir, _ = synth_yt8m
    npz = data_dir / yt8m.NPZ_NAME
    with np.load(npz) as z:
        arrays = {k: z[k] for k in z.files}
    bad(arrays)
    np.savez(npz, **arrays)
    with pytest.raises(yt8m.YT8MDataError, match=match) as exc:
        yt8m.load_yt8m(data_dir)
    assert yt8m.NPZ_NAME in str(exc.value)


def test_vocabulary_missing_column(tmp_path):
    p = tmp_path / 'vocabulary.csv'
    p.write_text('Index,Name\n1,Car\n')
    with pytest.raises(yt8m.YT8MDataError, match=r"vocabulary.csv: missing column\(s\) \['Vertical1'\]"):
        yt8m.load_vocabulary(p)


def test_video_features_concatenate_rgb_and_audio(synth_yt8m):
    data_dir, _ = synth_yt8m
    d = yt8m.load_yt8m(data_dir)
    x = d.video_features(np.array([0, 5]))
    assert x.shape == (2, 1152) and x.dtype == np.float32
    np.testing.assert_array_equal(x[1, 1024:], d.audio[5].astype(np.float32))
