import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture
def stub_path(monkeypatch):
    """Make ``stub_train`` importable here and in worker subprocesses (they inherit PYTHONPATH)."""
    monkeypatch.syspath_prepend(str(HERE))
    old = [p for p in (sys.path and __import__('os').environ.get('PYTHONPATH', '').split(':')) if p]
    monkeypatch.setenv('PYTHONPATH', ':'.join([str(HERE), *old]))
    return 'stub_train:train'


@pytest.fixture
def toy_store(tmp_path):
    from jedi_repro.data.toy import make_toy_store

    path = tmp_path / 'toy'
    make_toy_store(path, n_datasets=2, n_classes=3, dim=8, n_train=20, n_val=10, n_test=10)
    return path


DEFAULT_CONFIG = HERE.parents[1] / 'mm_configs' / 'jedi' / 'jedi_default.py'


def write_spec(tmp_path, features, body: str, name: str = 'spec') -> Path:
    """A spec file on the default config (spec keys are checked against it; the stub train ignores it)."""
    spec = tmp_path / f'{name}.yaml'
    spec.write_text(f'base_config: {DEFAULT_CONFIG}\nfeatures: {features}\n' + body)
    return spec


def require_postgres() -> None:
    """Skip where PostgreSQL's binaries are missing; fail under CI, whose .ci/run installs them."""
    from jedi_repro.tracking.postgres import find_bin_dir
    if find_bin_dir() is None:
        if os.environ.get('CI'):
            pytest.fail('PostgreSQL is not installed; .ci/run installs it (apt-get install postgresql)')
        pytest.skip('PostgreSQL is not installed (apt-get install -y postgresql)')
