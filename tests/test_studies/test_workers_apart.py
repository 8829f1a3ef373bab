"""Workers started apart from the runner: prepare-only runs, waiting workers, the tracking URI they use."""
import time
from types import SimpleNamespace

import pytest

from jedi_repro.errors import JediError
from jedi_repro.studies.runner import run_study
from jedi_repro.studies.spec import load_spec
from jedi_repro.studies.storage import load_study, storage_url
from jedi_repro.studies.worker import TRACKING_ATTR, run_worker, wait_for_study, worker_tracking_uri

from .conftest import write_spec

GRID = ('name: apart\nseeds: [0]\nspace:\n  model.gamma: [0.0, 0.4]\nsampler: grid\n'
        'objective: mean/teacher/top1\n')


def _study(attrs, name='s'):
    return SimpleNamespace(user_attrs=attrs, study_name=name)


def test_worker_tracking_uri_prefers_env_and_refuses_another_server():
    server = 'http://10.0.0.5:5000'
    assert worker_tracking_uri(_study({TRACKING_ATTR: server}), {}) == server
    assert worker_tracking_uri(_study({TRACKING_ATTR: server}), {'MLFLOW_TRACKING_URI': server + '/'}) \
        == server + '/'
    assert worker_tracking_uri(_study({}), {}) is None  # the workspace default
    assert worker_tracking_uri(_study({}), {'MLFLOW_TRACKING_URI': 'sqlite:///x.db'}) == 'sqlite:///x.db'
    with pytest.raises(JediError, match='10.0.0.5'):
        worker_tracking_uri(_study({TRACKING_ATTR: server}), {'MLFLOW_TRACKING_URI': 'http://other:5000'})


def test_a_worker_waits_for_the_study_then_gives_up_with_the_reason(tmp_path, toy_store):
    spec = load_spec(write_spec(tmp_path, toy_store, GRID))
    t0 = time.time()
    with pytest.raises(JediError, match='jedi study run'):
        wait_for_study(spec, storage_url(spec), wait_s=0.5, poll_s=0.2)
    assert 0.3 <= time.time() - t0 < 5


@pytest.mark.integration
def test_prepare_only_then_a_worker_started_apart_then_close(tmp_path, toy_store, stub_path):
    from jedi_repro.tracking.client import RetryingClient

    spec_path = write_spec(tmp_path, toy_store, GRID)
    spec = load_spec(spec_path)
    first = run_study(spec_path, workers=0, progress=False)
    assert first['workers_started'] == 0 and not first['closed']
    assert first['counts'] == {'WAITING': 2}  # the grid is enqueued for workers started apart
    assert run_worker(str(spec_path), storage_url(spec), train_fn=stub_path) == 2
    closing = run_study(spec_path, workers=0, progress=False)
    assert closing['closed'] and closing['counts'] == {'COMPLETE': 2}
    parent = load_study(spec, storage_url(spec)).user_attrs['jedi.mlflow_parent_run_id']
    run = RetryingClient().get_run(parent)
    assert run.info.status == 'FINISHED' and 'best/mean/teacher/top1' in run.data.metrics
    with pytest.raises(JediError, match='at least 0'):
        run_study(spec_path, workers=-1, progress=False)


def test_server_experiments_leave_artifacts_to_the_server():
    from jedi_repro.tracking.runs import get_or_create_experiment

    class Client:  # records what the experiment is created with
        def __init__(self, uri):
            self.tracking_uri, self.created = uri, []

        def get_experiment_by_name(self, name):
            return None

        def create_experiment(self, name, artifact_location=None, tags=None):
            self.created.append(artifact_location)
            assert tags == {'mlflow.experimentKind': 'custom_model_development'}  # opens on its runs
            return '1'

    remote, local = Client('http://127.0.0.1:5000'), Client('sqlite:///x.db')
    get_or_create_experiment(remote, 'e')
    get_or_create_experiment(local, 'e')
    assert remote.created == [None]
    assert local.created[0].startswith('file://')


def test_jedi_server_refuses_a_bad_port(capsys):
    from jedi_repro.cli import main
    assert main(['server', '--backend-store-uri', 'sqlite:///x.db', '--port', '70000']) == 1
    assert '--port 70000' in capsys.readouterr().err
