import json

import pytest

from jedi_repro.errors import JediError
from jedi_repro.experts.data_root import read_annotations, read_data_root, video_problem


def test_read_data_root(tiny_root):
    (ds,) = read_data_root(tiny_root)
    assert ds.name == 'hmdb_like' and ds.metric == 'top1' and set(ds.splits) == {'train', 'val', 'test'}
    entries = read_annotations(ds.splits['train'], len(ds.classes))
    assert len(entries) == 24 and all(video_problem(ds.video_prefix / rel) is None for rel, _ in entries)


@pytest.mark.parametrize('text, match', [('a.mp4 7\n', 'outside'), ('a.mp4 x\n', 'not an integer'),
                                         ('a.mp4\n', 'expected "path label"'), ('\n', 'empty')])
def test_annotation_errors_name_file_and_line(tmp_path, text, match):
    f = tmp_path / 'list.txt'
    f.write_text('ok.mp4 1\n' + text if match != 'empty' else text)
    with pytest.raises(JediError, match=match) as e:
        read_annotations(f, num_classes=6)
    assert 'list.txt' in str(e.value)


def test_missing_list_and_benchmark(tmp_path):
    with pytest.raises(JediError, match='does not exist'):
        read_annotations(tmp_path / 'none.txt')
    with pytest.raises(JediError, match='benchmark.json'):
        read_data_root(tmp_path)
    (tmp_path / 'benchmark.json').write_text(json.dumps({'datasets': ['d']}))
    (tmp_path / 'd').mkdir()
    (tmp_path / 'd' / 'dataset.json').write_text(json.dumps({'classes': ['a'], 'splits': {}, 'metric': 'f1'}))
    with pytest.raises(JediError, match='metric'):
        read_data_root(tmp_path)


def test_video_problem_detects_missing_and_corrupt(tmp_path):
    assert 'does not exist' in video_problem(tmp_path / 'none.mp4')
    bad = tmp_path / 'bad.mp4'
    bad.write_bytes(b'\x00\x00\x00\x18ftypmp42' + b'garbage' * 20)
    assert 'decord' in video_problem(bad)
