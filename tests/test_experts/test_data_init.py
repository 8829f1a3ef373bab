"""`jedi data init`: MMAction2 lists -> data root, every line and video checked, nothing written on error."""
import json
import shutil

import pytest

from jedi_repro.experts.data_init import DataInitError, init_data_root
from jedi_repro.experts.data_root import read_annotations, read_data_root


@pytest.fixture
def lists_root(tiny_root, tmp_path):
    """Two datasets in MMAction2 list format over the tiny rendered clips (no JSON files)."""
    src = tiny_root / 'hmdb_like'
    root = tmp_path / 'mine'
    for name in ('walks', 'waves'):
        d = root / name
        shutil.copytree(src / 'videos', d / 'videos')
        for split in ('train', 'val', 'test'):
            shutil.copy(src / f'{split}.txt', d / f'{split}.txt')
    (root / 'walks' / 'classes.txt').write_text('\n'.join(f'c{i}' for i in range(6)) + '\n')
    train = (root / 'waves' / 'train.txt').read_text().splitlines()
    (root / 'waves' / 'train_labeled.txt').write_text('\n'.join(train[:6]) + '\n')
    return root


def _written(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob('*.json'))


def test_init_writes_a_data_root_the_experts_read(lists_root):
    out = init_data_root(lists_root, metrics={'waves': 'mAP'})
    assert out['datasets']['walks'] == dict(classes=6, splits=dict(train=24, val=12, test=12), labeled=None,
                                            metric='top1')
    walks, waves = read_data_root(lists_root)
    assert (walks.name, waves.name) == ('walks', 'waves')
    assert walks.classes == [f'c{i}' for i in range(6)] and walks.labeled_list is None
    assert waves.classes == [str(i) for i in range(6)] and waves.metric == 'mAP'  # names from the labels
    assert len(read_annotations(waves.labeled_list)) == 6 and waves.labeled_fraction == 0.25
    assert waves.video_prefix == lists_root / 'waves'
    # re-running over its own output is allowed; over a data root another tool wrote it is not
    init_data_root(lists_root, check_videos='exists')
    (lists_root / 'benchmark.json').write_text(json.dumps({'datasets': ['walks'], 'generator': 'synth'}))
    with pytest.raises(DataInitError, match='--overwrite'):
        init_data_root(lists_root)
    init_data_root(lists_root, overwrite=True, check_videos='none')


CORRUPT, REMOVE = 'corrupt', 'remove'


@pytest.mark.parametrize('file, line, match', [
    ('walks/val.txt', 'videos/val/extra.mp4 9', r'val.txt:13: label 9 is outside \[0, 6\)'),
    ('waves/val.txt', 'videos/val/val_00001.mp4 2', r'val.txt:13: .* listed twice \(first on line 2\)'),
    ('waves/test.txt', 'videos/train/train_00000.mp4 1', r'test.txt:13: .* also in .*train.txt:1'),
    ('walks/train.txt', 'videos/x.mp4', r'train.txt:25: expected "video label"'),
    ('walks/train.txt', 'videos/x.mp4 one', r"train.txt:25: label 'one' is not an"),
    ('walks/train.txt', 'videos/missing.mp4 0', r'train.txt:25: video .*missing.mp4: file does not'),
    ('walks/videos/test/test_00003.mp4', CORRUPT, r'test.txt:4: video .*test_00003.mp4: decord cannot'),
    ('waves/train_labeled.txt', 'videos/val/val_00000.mp4 0', r'train_labeled.txt:7: .* not in'),
    ('walks/val.txt', REMOVE, r'walks/val.txt does not exist'),
])
def test_every_problem_names_file_and_line_and_nothing_is_written(lists_root, file, line, match):
    if line == CORRUPT:
        (lists_root / file).write_bytes(b'\x00' * 64)
    elif line == REMOVE:
        (lists_root / file).unlink()
    else:
        _append(lists_root / file, line)
    with pytest.raises(DataInitError, match=match) as e:
        init_data_root(lists_root)
    assert 'nothing written' in str(e.value)
    assert _written(lists_root) == []
    assert not [p for p in lists_root.rglob('.*') if p.is_file()]  # no temp file left behind


def test_label_problems_are_collected_and_wrong_metric_refused(lists_root):
    for i in range(7):
        _append(lists_root / 'walks' / 'test.txt', f'videos/test/test_{i:05d}.mp4 {6 + i}')
    with pytest.raises(DataInitError, match=r'problem\(s\).* and \d+ more problems'):
        init_data_root(lists_root, check_videos='none')
    with pytest.raises(DataInitError, match='no dataset'):
        init_data_root(lists_root, metrics={'nope': 'mAP'}, check_videos='none')


def test_cli_data_init(lists_root, capsys):
    from jedi_repro.cli import main
    assert main(['data', 'init', str(lists_root), '--metric', 'waves=f1', '--check-videos', 'exists']) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and 'waves=f1' in err and _written(lists_root) == []
    assert main(['data', 'init', str(lists_root), '--check-videos', 'exists']) == 0
    assert json.loads(capsys.readouterr().out)['datasets']['waves']['labeled'] == 'train_labeled.txt'
    assert _written(lists_root) == ['benchmark.json', 'walks/dataset.json', 'waves/dataset.json']
    assert main(['data', 'init', str(lists_root.parent / 'none')]) == 1
    assert 'is not a directory' in capsys.readouterr().err


def test_extract_error_points_to_data_init(tmp_path):
    from jedi_repro.errors import JediError
    with pytest.raises(JediError, match='jedi data init'):
        read_data_root(tmp_path)


def _append(path, line):
    with open(path, 'a') as f:
        f.write(line + '\n')
