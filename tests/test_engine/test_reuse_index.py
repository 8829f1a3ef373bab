import json
from pathlib import Path

import pytest

from jedi_repro.cli import main
from jedi_repro.data.toy import make_toy_store
from jedi_repro.engine import reuse
from jedi_repro.tracking.client import RetryingClient

DEFAULT = str(Path(__file__).resolve().parents[2] / 'mm_configs' / 'jedi' / 'jedi_default.py')


def _finished(**over):
    m = {'mean': {'student': {'top1': 0.5}}, 'val': {'mean': {'student': {'top1': 0.4}}}, 'seed': 0,
         'config': {'train_cfg': {'max_epochs': 150}, 'model': {'gamma': 0.4}}, 'features_hash': 'f' * 64,
         'wall_s': 12.5, 'convergence': {'converged': True, 'last_epoch': 20}}
    m.update(over)
    return m


def test_key_changes_with_every_part():
    base = reuse.RunKey('c' * 16, 'f' * 64, 0, '0.1.0+gabc')
    keys = {base.key, reuse.RunKey('d' * 16, 'f' * 64, 0, '0.1.0+gabc').key,
            reuse.RunKey('c' * 16, 'e' * 64, 0, '0.1.0+gabc').key, reuse.RunKey('c' * 16, 'f' * 64, 1,
                                                                                '0.1.0+gabc').key,
            reuse.RunKey('c' * 16, 'f' * 64, 0, '0.1.0+gabc.dirty123').key}
    assert len(keys) == 5 and base.key == reuse.RunKey('c' * 16, 'f' * 64, 0, '0.1.0+gabc').key


def test_code_version_names_package_and_commit():
    v = reuse.code_version()
    assert v.split('+')[0]  # the package version
    assert '+g' in v  # this test runs in a git checkout


@pytest.mark.parametrize('over, ok', [
    ({}, True),
    ({'convergence': {'converged': False, 'last_epoch': 150}}, True),    # ran to its cap
    ({'convergence': {'converged': False, 'last_epoch': 37}}, False),    # stopped early, not converged
    ({'convergence': {}}, False),
    ({'resumed': True}, False),
    ({'config': {'resume': True, 'train_cfg': {'max_epochs': 150}}}, False),
    ({'reused_from': {'run_id': 'x'}}, False),
    ({'val': {}}, False),
])
def test_only_complete_runs_are_reusable(over, ok):
    assert reuse.is_reusable(_finished(**over)) is ok


def test_record_lookup_adopt_and_a_changed_work_dir(tmp_path):
    metrics = _finished()
    rk = reuse.RunKey('c' * 16, metrics['features_hash'], 0, 'v1')
    orig = tmp_path / 'orig'
    orig.mkdir()
    (orig / 'metrics.json').write_text(json.dumps(metrics))
    assert reuse.lookup(rk) is None
    assert not reuse.record(rk, orig, _finished(convergence={}), run_id='r0')  # incomplete: not indexed
    assert reuse.record(rk, orig, metrics, run_id='r1')
    entry, found = reuse.lookup(rk)
    assert entry['run_id'] == 'r1' and found == metrics
    assert reuse.lookup(reuse.RunKey('c' * 16, metrics['features_hash'], 1, 'v1')) is None
    out = reuse.adopt(entry, found, tmp_path / 'new')
    assert out['reused_from']['run_id'] == 'r1' and out['wall_s'] == 12.5
    assert json.loads((tmp_path / 'new' / 'metrics.json').read_text()) == out
    # the original work dir now holds another run: the entry no longer applies
    (orig / 'metrics.json').write_text(json.dumps(_finished(config={'model': {'gamma': 0.0}})))
    assert reuse.lookup(rk) is None


@pytest.mark.integration
def test_jedi_train_reuses_a_finished_run_unless_told_not_to(tmp_path, capsys):
    make_toy_store(tmp_path / 'store', n_datasets=2, n_classes=3, dim=8, n_train=30, n_val=15, n_test=15)
    args = ['train', DEFAULT, '--features', str(tmp_path / 'store'), '--seed', '1',
            '--cfg-options', 'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1000']
    assert main([*args, '--work-dir', str(tmp_path / 'a')]) == 0
    assert main([*args, '--work-dir', str(tmp_path / 'b')]) == 0
    assert 'reused the finished run in' in capsys.readouterr().out
    assert main([*args, '--work-dir', str(tmp_path / 'c'), '--no-reuse']) == 0
    assert 'reused' not in capsys.readouterr().out
    a, b, c = (json.loads((tmp_path / d / 'metrics.json').read_text()) for d in 'abc')
    assert b['reused_from']['work_dir'] == str((tmp_path / 'a').resolve()) and 'reused_from' not in c
    assert b['mean'] == a['mean'] and c['mean'] == a['mean']  # same seed: the retrained run agrees
    assert not list((tmp_path / 'b').glob('*.pth'))  # nothing trained there
    client = RetryingClient()
    runs = client.search_runs([client.get_experiment_by_name('jedi-train').experiment_id])
    by_dir = {Path(r.data.tags['jedi.work_dir']).name: r for r in runs}
    assert by_dir['b'].data.tags['jedi.reused_from'] == by_dir['a'].info.run_id
    assert 'jedi.reused' not in by_dir['c'].data.tags and by_dir['b'].info.status == 'FINISHED'
    # a bf16 run is another key
    opts = {'train_cfg.max_epochs': 1, 'default_hooks.logger.interval': 1000}
    keys = [reuse.key_for(DEFAULT, tmp_path / 'store', tmp_path / 'd', {**opts, 'precision': p}, seed=1)
            for p in ('fp32', 'bf16')]
    assert reuse.lookup(keys[0]) is not None and reuse.lookup(keys[1]) is None
