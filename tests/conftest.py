import os

import pytest

# Figures render without a display.
os.environ.setdefault('MPLBACKEND', 'Agg')


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path, monkeypatch):
    """Every test gets its own workspace root and MLflow database; nothing leaks into ./jedi_work."""
    monkeypatch.setenv('JEDI_HOME', str(tmp_path / 'jedi_work'))
    monkeypatch.delenv('MLFLOW_TRACKING_URI', raising=False)
    yield
