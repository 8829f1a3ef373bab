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


# ----------------------------------------------------------------------------- the overlap cut (issue 26)
def _overlap_data():
    """8 named labels, each the only label of 20 videos; plus 10 videos carrying two of them (never used)."""
    vocab = yt8m.Vocabulary(name={i: f'L{i}' for i in range(8)}, vertical={i: 'Any' for i in range(8)})
    labels = [[i] for i in range(8) for _ in range(20 - i)] + [[0, 1]] * 10
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in labels])]).astype(np.int64)
    return offsets, np.concatenate(labels).astype(np.int64), vocab, labels


@pytest.mark.parametrize('overlap, shared', [(0.0, 0), (0.3, 1), (0.6, 2)])
def test_overlap_cut_shares_the_requested_classes_with_disjoint_videos(overlap, shared):
    off, val, vocab, labels = _overlap_data()
    cut = yt8m.cut_overlapping(off, val, vocab, n=2, overlap=overlap, classes_per_dataset=3,
                               videos_per_class=8, universe=8, fractions=(0.5, 0.25, 0.25))
    assert [c.name for c in cut] == ['d0', 'd1']
    share = yt8m.overlap_share({c.name: c.classes for c in cut})
    assert share == {'d0': shared / 3, 'd1': shared / 3}
    every = np.concatenate([v for c in cut for v in c.videos.values()])
    assert len(every) == len(set(every.tolist())) == 2 * 3 * 8  # no video twice (datasets or splits)
    for c in cut:
        assert c.sizes() == {'train': 12, 'val': 6, 'test': 6}  # 3 classes x (4 / 2 / 2)
        for split in yt8m.SPLITS:
            assert np.bincount(c.labels[split], minlength=3).tolist() == [c.sizes()[split] // 3] * 3
            for v, y in zip(c.videos[split], c.labels[split]):
                assert labels[v] == [c.label_ids[y]]  # its class is its only label
    again = yt8m.cut_overlapping(off, val, vocab, n=2, overlap=overlap, classes_per_dataset=3,
                                 videos_per_class=8, universe=8, fractions=(0.5, 0.25, 0.25))
    assert all(np.array_equal(a.videos['train'], b.videos['train']) for a, b in zip(cut, again))


def test_shared_pairs_give_every_dataset_the_same_number_of_shared_classes():
    assert yt8m.shared_pairs(4, 0) == []
    pairs = yt8m.shared_pairs(4, 2)
    assert pairs == [(0, 1), (2, 3), (1, 2), (3, 0)]
    assert np.bincount(np.ravel(pairs), minlength=4).tolist() == [2, 2, 2, 2]
    assert yt8m.shared_pairs(2, 2) == [(0, 1), (1, 0)]
    with pytest.raises(JediError, match='even number'):
        yt8m.shared_pairs(3, 1)


def test_overlap_cut_says_what_the_data_allows():
    off, val, vocab, _ = _overlap_data()
    kw = dict(classes_per_dataset=3, videos_per_class=6, universe=8)
    with pytest.raises(JediError, match=r'n=4, 3 classes per dataset, 0 shared: needs 0 .* and 12 more'):
        yt8m.cut_overlapping(off, val, vocab, n=4, overlap=0.0, **kw)
    assert yt8m.max_overlap_datasets(off, val, vocab, 0.0, **kw) == 2  # 8 labels of >= 6 videos: 2 x 3
    with pytest.raises(JediError, match='overlap in'):
        yt8m.cut_overlapping(off, val, vocab, n=2, overlap=1.5, **kw)


def test_the_real_overlap_cut_of_the_second_map():
    """On the 28,792 real videos: n = 8 at every overlap of mm_configs/yt8m/regimes_overlap.py."""
    from jedi_repro.benchmarks import regimes as R
    try:
        d = yt8m.load_yt8m()
    except yt8m.YT8MDataError as exc:
        pytest.skip(f'../shared YouTube-8M data absent: {exc}')
    m = R.load_map(R.OVERLAP_MAP_CONFIG)
    for overlap, share in zip(m.overlaps, (0.0, 1 / 3, 2 / 3)):
        cut = yt8m.cut_overlapping(d.label_offsets, d.label_values, d.vocab, n=8, overlap=overlap,
                                   **m.overlap_cut)
        assert set(yt8m.overlap_share({c.name: c.classes for c in cut}).values()) == {share}
        every = np.concatenate([v for c in cut for v in c.videos.values()])
        assert len(set(every.tolist())) == len(every) == 8 * 3 * 80
    # what the data allows at this size: 8 datasets without overlap (README, reports/regimes_overlap)
    assert yt8m.max_overlap_datasets(d.label_offsets, d.label_values, d.vocab, 0.0, **m.overlap_cut) == 8
