import os

import pytest

# Keep test runs predictable on CI's 2 cores.
os.environ.setdefault('OMP_NUM_THREADS', '2')
os.environ.setdefault('MPLBACKEND', 'Agg')


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path, monkeypatch):
    """Every test gets its own workspace root and MLflow database; nothing leaks into ./jedi_work."""
    monkeypatch.setenv('JEDI_HOME', str(tmp_path / 'jedi_work'))
    monkeypatch.delenv('MLFLOW_TRACKING_URI', raising=False)
    yield
