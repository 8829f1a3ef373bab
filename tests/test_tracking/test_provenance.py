from pathlib import Path

from jedi_repro.tracking import provenance


def test_flatten_and_config_hash_ignore_seed():
    a = {'model': {'gamma': 0.4, 'fusion': {'type': 'concat'}}, 'randomness': {'seed': 0}, 'x': [1, 2]}
    b = {**a, 'randomness': {'seed': 7}}
    assert provenance.flatten(a) == {'model.gamma': 0.4, 'model.fusion.type': 'concat',
                                     'randomness.seed': 0, 'x': [1, 2]}
    assert provenance.config_hash(a) == provenance.config_hash(b)
    assert provenance.config_hash(a) != provenance.config_hash({**a, 'model': {'gamma': 0.0}})
    # a seed nested anywhere (train() seeds the dataset's sampler too) is not part of the configuration
    c = {**a, 'train_dataloader': {'dataset': {'seed': 0}}}
    d = {**a, 'train_dataloader': {'dataset': {'seed': 3}}}
    assert provenance.config_hash(c) == provenance.config_hash(d)


def test_git_sha(tmp_path):
    sha = provenance.git_sha(Path(__file__).parent)
    assert len(sha) == 40 and int(sha, 16) >= 0
    assert provenance.git_sha(tmp_path) == 'unknown'


def test_features_hash_and_dataset_metrics(tmp_path):
    from jedi_repro.data.toy import make_toy_store

    store = make_toy_store(tmp_path / 'toy', n_datasets=2, n_classes=3, dim=4, n_train=10, n_val=5,
                           n_test=5, multilabel=('ds1',))
    assert provenance.features_hash(tmp_path / 'toy') == store.content_hash()
    assert provenance.features_hash(tmp_path / 'none') == 'unknown'
    assert provenance.dataset_metrics(tmp_path / 'toy') == {'ds0': 'top1', 'ds1': 'mAP'}


def test_package_versions():
    v = provenance.package_versions(('optuna', 'no-such-dist-xyz'))
    assert v['optuna'].startswith('5.') and v['no-such-dist-xyz'] == 'missing'


def test_cpu_kind_names_the_kernels_and_what_forced_them(monkeypatch):
    from jedi_repro.tracking.provenance import cpu_kind
    assert '; torch kernels ' in cpu_kind()
    monkeypatch.setenv('ONEDNN_MAX_CPU_ISA', 'SSE41')
    assert cpu_kind().endswith('(ONEDNN_MAX_CPU_ISA=SSE41)')
