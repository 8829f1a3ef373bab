import os

import pytest

# Figures render without a display.
os.environ.setdefault('MPLBACKEND', 'Agg')


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path, monkeypatch):
    """Every test gets its own workspace root and MLflow database; nothing leaks into ./jedi_work."""
    monkeypatch.setenv('JEDI_HOME', str(tmp_path / 'jedi_work'))
    monkeypatch.delenv('MLFLOW_TRACKING_URI', raising=False)
    monkeypatch.setenv('JEDI_VERBOSE', '0')  # `jedi -v` in one test must not leak into the next
    yield
