"""Extraction with decoding workers gives the same features and reports where its time went."""
import numpy as np
import pytest

from jedi_repro.cli import main
from jedi_repro.data.feature_store import FeatureStore
from jedi_repro.experts.extract import ExpertSpec, extract


@pytest.mark.integration
def test_workers_give_the_same_store_and_a_time_split(tiny_root, untrained_expert, tmp_path):
    results, feats = {}, {}
    for workers in (0, 1):
        out = tmp_path / f'store{workers}'
        results[workers] = extract(tiny_root, out, experts=[ExpertSpec(*untrained_expert)],
                                   show_progress=False, log=None, use_cache=False, num_workers=workers)
        feats[workers] = np.array(FeatureStore.open(out).features('x3d_hmdb_like', 'hmdb_like', 'train'))
    np.testing.assert_array_equal(feats[0], feats[1])
    for workers, r in results.items():
        assert r['num_workers'] == workers and r['computed'] == 3
        assert r['forward_s'] > 0 and r['data_s'] > 0 and r['check_s'] >= 0
        assert r['data_s'] + r['forward_s'] <= r['wall_s']


def test_cli_refuses_a_bad_worker_count(tiny_root, tmp_path, capsys):
    args = ['extract', '--data-root', str(tiny_root), '--out', str(tmp_path / 's'), '--workers', 'two']
    assert main(args) == 1
    assert "--workers 'two'" in capsys.readouterr().err
    assert not (tmp_path / 's').exists()
