"""Parallel processes writing to one SQLite MLflow database: no lock error reaches the caller."""
import subprocess
import sys

import pytest

from jedi_repro.tracking.client import RetryingClient
from jedi_repro.tracking.runs import get_or_create_experiment

pytestmark = pytest.mark.integration

WRITER = """
import sys
from jedi_repro.tracking.client import RetryingClient
from jedi_repro.tracking.runs import end_run, get_or_create_experiment, log_metrics, log_params, start_run
client = RetryingClient()
exp = get_or_create_experiment(client, 'stress')
for r in range(3):
    run = start_run(client, exp, 'seed', f'w{sys.argv[1]}-{r}', {'jedi.study': 'stress', 'w': sys.argv[1]})
    log_params(client, run, {f'p{i}': i for i in range(30)})
    for step in range(10):
        log_metrics(client, run, {f'val/m{i}': step * 0.01 for i in range(10)}, step=step)
    end_run(client, run)
print('ok')
"""


def test_parallel_processes_write_one_sqlite_db():
    client = RetryingClient()  # create the schema once, as the study runner does
    get_or_create_experiment(client, 'stress')
    procs = [subprocess.Popen([sys.executable, '-c', WRITER, str(i)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and out.strip() == 'ok', err[-2000:]
        assert 'database is locked' not in err
    exp = client.get_experiment_by_name('stress')
    runs = client.search_runs([exp.experiment_id], max_results=100)
    assert len(runs) == 6 and all(r.info.status == 'FINISHED' for r in runs)
    assert all(len(r.data.params) == 30 and len(r.data.metrics) == 10 for r in runs)
    assert all(len(client.get_metric_history(r.info.run_id, 'val/m0')) == 10 for r in runs[:2])
