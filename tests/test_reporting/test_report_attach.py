"""Every run a report covers carries the report's sections about it (jedi_repro/reporting/attach.py): the
seed, trial and study runs of the synthetic store (reporting_synthetic_runs.py), read back from MLflow."""
import pytest
from mlflow import MlflowClient
from reporting_synthetic_runs import DATASETS, GAMMA0, PAPER

from jedi_repro.errors import JediError
from jedi_repro.reporting import write_report
from jedi_repro.tracking.notes import NOTE_TAG, blocks

pytestmark = pytest.mark.integration


def _artifact_text(client, run_id, path, tmp_path):
    return open(client.download_artifacts(run_id, path, str(tmp_path))).read()


def _seed_mean(values, role, seed):
    return sum(values[d][role][seed] for d in DATASETS) / len(DATASETS)


def test_seed_trial_and_study_runs_carry_the_sections_that_concern_them(store, report_dir, tmp_path):
    uri, ids = store[:2]
    client = MlflowClient(tracking_uri=uri)
    seed_run = ids['seeds'][('gamma', 0)][1]  # gamma = 0, seed 1
    text = _artifact_text(client, seed_run, 'report/demo/report.md', tmp_path / 'a')
    assert 'This run is seed 1 of **gamma trial 0** (seeds 0, 1, 2)' in text
    assert '## Ablation: `model.gamma` (study gamma)' in text and '(study fusion)' not in text
    assert '## Best configuration' in text and '## Provenance' in text
    # gamma = 0 is the gamma-0 baseline of the main table: the main results concern it
    assert '## Main results' in text
    row = next(line for line in text.splitlines() if line.startswith('| student |'))
    assert f'| {_seed_mean(GAMMA0, "student", 1) * 100:.2f} |' in row
    # every figure and table the excerpt links to travels with it
    listed = {a.path for a in client.list_artifacts(seed_run, 'report/demo/figures')}
    assert 'report/demo/figures/ablation_gamma.png' in listed
    lead, parts = blocks(client.get_run(seed_run).data.tags[NOTE_TAG])
    assert 'report/demo/report.md' in parts['report:demo']

    fusion_seed = ids['seeds'][('fusion', 0)][0]
    text = _artifact_text(client, fusion_seed, 'report/demo/report.md', tmp_path / 'b')
    assert '(study fusion)' in text and '(study gamma)' not in text and '## Main results' not in text

    paper_trial = ids['trials'][('gamma', 1)]
    text = _artifact_text(client, paper_trial, 'report/demo/report.md', tmp_path / 'c')
    assert 'the trial run of **gamma trial 1**' in text and '### Learning curves' in text
    assert f'{_seed_mean(PAPER, "student", 0) * 100:.2f}' not in text.split('## ')[0]  # no one seed's row

    parent = ids['parents']['fusion']
    text = _artifact_text(client, parent, 'report/demo/report.md', tmp_path / 'd')
    assert 'the parent run of study **fusion**' in text and '(study fusion)' in text


def test_a_rewritten_report_replaces_its_line_and_no_attach_leaves_runs_alone(store, tmp_path):
    uri, ids = store[:2]
    client = MlflowClient(tracking_uri=uri)
    seed_run = ids['seeds'][('gamma', 1)][0]
    for _ in range(2):
        write_report(tmp_path / 'twice', studies=['gamma'], tracking_uri=uri)
    note = client.get_run(seed_run).data.tags[NOTE_TAG]
    assert note.count('<!-- jedi:report:twice -->') == 1
    before = client.get_run(seed_run).data.tags[NOTE_TAG]
    write_report(tmp_path / 'quiet', studies=['gamma'], tracking_uri=uri, attach=False)
    assert client.get_run(seed_run).data.tags[NOTE_TAG] == before
    assert not client.list_artifacts(seed_run, 'report/quiet')


def test_a_store_that_refuses_the_sections_fails_the_report_and_writes_nothing(store, tmp_path, monkeypatch):
    uri = store[0]

    def refuse(self, *a, **k):
        raise PermissionError('read-only artifact store')

    monkeypatch.setattr(MlflowClient, 'log_artifacts', refuse)
    with pytest.raises(JediError, match='--no-attach') as err:
        write_report(tmp_path / 'r', studies=['gamma'], tracking_uri=uri)
    assert 'read-only artifact store' in str(err.value)
    assert [p.name for p in tmp_path.iterdir()] == ['jedi_work']  # the workspace only: no report, no temp dir
