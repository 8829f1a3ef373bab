"""The records of a study's processes (tracking/offline.py): a run one process opened during an outage has a
local id that another process names (a seed run's parent); a replay sends each record only once MLflow's id
of every run it names is known, whichever directory is sent first."""
import pytest
from mlflow.entities import RunTag

from jedi_repro.tracking import offline
from jedi_repro.tracking.offline import LOCAL_ID, OFFLINE_TAG, STUDY_RECORDS, BufferedClient, sync, sync_all

LOCAL = 'offline-' + 'a' * 32


def test_substitute_maps_local_ids_everywhere_but_a_runs_own_tag():
    ids = {LOCAL: 'abc123'}
    value = [LOCAL, {'mlflow.parentRunId': LOCAL, OFFLINE_TAG: LOCAL, 'note': f'see {LOCAL}.'},
             (RunTag('mlflow.parentRunId', LOCAL), RunTag(OFFLINE_TAG, LOCAL)), 3]
    assert offline._substitute(value, ids) == [
        'abc123', {'mlflow.parentRunId': 'abc123', OFFLINE_TAG: LOCAL, 'note': 'see abc123.'},
        (RunTag('mlflow.parentRunId', 'abc123'), RunTag(OFFLINE_TAG, LOCAL)), 3]
    assert offline._local_ids(value) == {LOCAL}
    assert offline._local_ids(offline._substitute(value, ids)) == set()
    assert offline._substitute(value, {}) == value  # an unknown id stays as it is (the record waits for it)
    assert LOCAL_ID.fullmatch(LOCAL) and not LOCAL_ID.fullmatch('offline-xyz')


def _open_offline(run_dir, uri, peers):
    return BufferedClient(run_dir, tracking_uri=uri, offline=True, say=lambda *_: None, peers=peers)


def test_a_record_naming_a_peers_run_waits_for_it(tmp_path):
    """Worker 1's seed run names the trial run worker 0 opened offline: sending worker 1 first sends nothing
    of it, then both go once worker 0's record is sent; MLflow's ids only, and again adds nothing."""
    from mlflow.tracking import MlflowClient
    uri = f'sqlite:///{tmp_path}/mlflow.db'
    exp = MlflowClient(uri).create_experiment('s', artifact_location=(tmp_path / 'art').as_uri())
    peers = tmp_path / STUDY_RECORDS
    w0 = _open_offline(peers / 'worker-0', uri, peers)
    trial = w0.create_run(exp, tags={'jedi.role': 'trial'}).info.run_id
    w0.set_terminated(trial, status='FINISHED')
    w1 = _open_offline(peers / 'worker-1', uri, peers)
    seed = w1.create_run(exp, tags={'jedi.role': 'seed', 'mlflow.parentRunId': trial}).info.run_id
    w1.set_terminated(seed, status='FINISHED')
    assert LOCAL_ID.fullmatch(trial) and LOCAL_ID.fullmatch(seed)

    # worker 1 first: its record waits for worker 0's trial run
    assert sync(peers / 'worker-1', uri) == 0 and offline.pending_count(peers / 'worker-1') == 2
    done = sync_all([peers / 'worker-1', peers / 'worker-0'], uri, say=lambda *_: None)
    assert done == {peers / 'worker-1': (2, 0), peers / 'worker-0': (2, 0)}
    runs = {r.data.tags['jedi.role']: r for r in MlflowClient(uri).search_runs([exp])}
    assert runs['seed'].data.tags['mlflow.parentRunId'] == runs['trial'].info.run_id
    assert {r.info.status for r in runs.values()} == {'FINISHED'}
    assert w1.run_id(trial) == runs['trial'].info.run_id  # a peer's local id resolves once sent
    assert sync_all([peers / 'worker-0', peers / 'worker-1'], uri) == {peers / 'worker-0': (0, 0),
                                                                      peers / 'worker-1': (0, 0)}
    assert len(MlflowClient(uri).search_runs([exp])) == 2


def test_a_live_process_keeps_its_record(tmp_path):
    """A study process holds its record directory: a second process gets its own, and `jedi sync` leaves the
    held one to its owner instead of sending it twice at once."""
    uri = f'sqlite:///{tmp_path}/mlflow.db'
    first = offline.study_client(tmp_path, 'worker-0', uri, say=lambda *_: None)
    first.offline = first.behind = True
    first.set_tag('offline-' + 'b' * 32, 'k', 'v')
    second = offline.study_client(tmp_path, 'worker-0', uri, say=lambda *_: None)
    assert second.run_dir != first.run_dir and second.run_dir.parent == first.run_dir.parent
    with pytest.raises(offline.RecordInUse, match='still running'):
        sync(first.run_dir, uri)
    said = []
    assert sync_all([first.run_dir], uri, say=said.append) == {first.run_dir: (0, 1)}
    assert 'still running' in said[0]
