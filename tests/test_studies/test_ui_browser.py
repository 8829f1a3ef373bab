"""The MLflow UI, rendered by a real browser, opens a study on its answer: `jedi ui` serves a tiny study and
headless Chromium (Debian's `chromium`; .ci/run installs it) loads the study link `jedi ui` prints. The
rendered page, without a click, names the winning configuration and its value, shows one row per
configuration sorted by the objective, and is in model-training mode (runs), not GenAI (traces).

Chromium runs from a subprocess with `--dump-dom` after a virtual-time budget (the page's scripts and
requests settle first): nothing to pin or download beside the browser, no driver whose version must match.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from .conftest import write_spec

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync')


def chromium() -> str:
    found = shutil.which('chromium') or shutil.which('chromium-browser')
    if found is None:
        if os.environ.get('CI'):
            pytest.fail('Chromium is not installed; .ci/run installs it (apt-get install chromium)')
        pytest.skip('Chromium is not installed (apt-get install -y chromium)')
    return found


def rendered(url: str, budget_ms: int = 20000) -> str:
    """The page's DOM once its scripts ran for ``budget_ms`` of virtual time (a fresh, empty profile)."""
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run([chromium(), *CHROMIUM_FLAGS, f'--user-data-dir={profile}',
                              '--window-size=1600,1100',
                              f'--virtual-time-budget={budget_ms}', '--dump-dom', url],
                             capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def text_of(html: str) -> str:
    return re.sub(r'\s+', ' ', re.sub(r'<[^>]+>', ' ', html))


def test_study_page_opens_on_the_winner(tmp_path, toy_store, stub_path):
    chromium()
    free_port = _free_port()
    spec = write_spec(tmp_path, toy_store, 'name: browserstudy\nseeds: [0, 1]\nspace:\n'
                      '  model.gamma: [0.0, 0.4]\nsampler: grid\nobjective: mean/student/primary\n')
    from jedi_repro.studies.runner import PARENT_ATTR, prepare, publish_ranking
    from jedi_repro.studies.spec import load_spec
    from jedi_repro.studies.storage import storage_url
    from jedi_repro.studies.worker import run_worker
    from jedi_repro.tracking.client import RetryingClient
    from jedi_repro.tracking.runs import end_run

    loaded = load_spec(spec)
    client = RetryingClient()
    study = prepare(loaded, storage_url(loaded), client)
    assert run_worker(str(spec), storage_url(loaded), train_fn=stub_path) == 2
    publish_ranking(client, study, loaded)  # what `jedi study run` does once its trials end
    end_run(client, study.user_attrs[PARENT_ATTR])
    # the stub: validation grows with gamma, so gamma = 0.4 wins; student primary mean over ds0 (0.55 +
    # 0.08 + 0.01 seed) and ds1 (+0.05), mean over seeds 0 and 1
    winner, value = 'trial-0001 gamma=0.4', '66.00'

    proc = subprocess.Popen([sys.executable, '-m', 'jedi_repro.cli', 'ui', '--port', str(free_port),
                             '--study', 'browserstudy'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        banner = [proc.stdout.readline(), proc.stdout.readline()]
        link = banner[1].split(': ', 1)[1].strip()
        assert banner[1].startswith('  study browserstudy: http://127.0.0.1:'), banner
        assert 'workflowType=machine_learning' in link and 'viewStateShareKey=' in link
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f'http://127.0.0.1:{free_port}/health', timeout=5)
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.5)
        page = text_of(rendered(link))
    finally:
        proc.send_signal(signal.SIGTERM)  # stop by PID; `jedi ui` stops the server's process group
        proc.wait(timeout=30)
    # the description's first line, shown without a click: the winner and its value in percent
    assert f'Winner by val/mean/student/primary: {winner}, {value} %' in page, page[:3000]
    # the runs table: one row per configuration (trial runs only), the objective as a column
    assert 'trial-0000 gamma=0' in page and 'seed=' not in page
    assert 'val/mean/student/primary' in page and 'test/mean/student/primary' in page
    assert '2 matching runs' in page
    # model-training mode: the runs page, not the GenAI overview of traces
    assert 'Detect Issues' not in page and 'Token Usage' not in page
