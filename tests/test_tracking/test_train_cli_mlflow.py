"""A lone `jedi train` is one MLflow run: per-epoch val metrics, final test metrics, FINISHED."""
import json
from pathlib import Path

import pytest

from jedi_repro import workspace
from jedi_repro.cli import main
from jedi_repro.data.toy import make_toy_store

CONFIG = Path(__file__).resolve().parents[2] / 'mm_configs' / 'jedi' / 'jedi_default.py'

pytestmark = pytest.mark.integration


@pytest.fixture
def store(tmp_path):
    make_toy_store(tmp_path / 'store', n_datasets=2, n_classes=3, dim=8, n_train=40, n_val=20, n_test=20)
    return tmp_path / 'store'


def test_jedi_train_logs_one_run_with_epoch_history(store, tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    rc = main(['train', str(CONFIG), '--features', str(store), '--work-dir', str(tmp_path / 'wd'),
               '--cfg-options', 'train_cfg.max_epochs=3', '--seed', '2'])
    assert rc == 0
    assert 'MLflow run' in capsys.readouterr().out
    client = MlflowClient(workspace.mlflow_uri())
    exp = client.get_experiment_by_name('jedi-train')
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == 'FINISHED'
    assert run.data.tags['jedi.role'] == 'seed'
    assert run.data.tags['jedi.seed'] == '2'
    assert run.data.tags['jedi.precision'] == 'fp32' and int(run.data.tags['jedi.threads']) >= 1
    assert run.data.params['model.gamma'] == '0.4'
    history = client.get_metric_history(run.info.run_id, 'val_epoch/mean/student/top1')
    assert sorted(m.step for m in history) == [1, 2, 3]
    # val/ = the validation metrics of the tested checkpoints, as in metrics.json
    m = json.loads((tmp_path / 'wd' / 'metrics.json').read_text())
    assert run.data.metrics['val/mean/teacher/top1'] == pytest.approx(m['val']['mean']['teacher']['top1'])
    assert run.data.tags['jedi.converged'] == 'false' and run.data.metrics['epochs_trained'] == 3
    assert 0.0 <= run.data.metrics['test/mean/teacher/top1'] <= 1.0
    assert 'test/ds0/expert/top5' in run.data.metrics
    # the feature store is the run's dataset input: its content hash as digest, its workspace-relative path
    from jedi_repro.data.feature_store import FeatureStore
    (inp,) = run.inputs.dataset_inputs
    assert inp.dataset.name == 'store' and inp.dataset.source_type == 'jedi_feature_store'
    assert inp.dataset.digest == FeatureStore.open(store).content_hash()[:32]
    assert json.loads(inp.dataset.profile)['experts'] == {'e0': 8, 'e1': 8}
    assert json.loads(inp.dataset.source) == {'path': str(store)}  # outside the workspace: kept as is
    assert {t.key: t.value for t in inp.tags} == {'mlflow.data.context': 'train'}
    # every artifact location is inside the workspace, the Default experiment's too
    for e in client.search_experiments():
        assert e.artifact_location.startswith(workspace.mlflow_artifacts_dir().as_uri()), e


def test_no_mlflow_writes_no_tracking_database(store, tmp_path):
    rc = main(['train', str(CONFIG), '--features', str(store), '--work-dir', str(tmp_path / 'wd'),
               '--cfg-options', 'train_cfg.max_epochs=1', '--no-mlflow'])
    assert rc == 0
    assert (tmp_path / 'wd' / 'metrics.json').is_file()
    assert not (workspace.root() / 'mlflow' / 'mlflow.db').exists()
