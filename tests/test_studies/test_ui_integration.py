"""`jedi ui` serves the real MLflow server on loopback; its REST API lists the study's runs."""
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from .conftest import write_spec

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _listen_addresses(port: int) -> set[str]:
    """Local addresses (hex, /proc/net/tcp) of sockets listening on ``port``."""
    found = set()
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.split(':')
            if state == '0A' and int(hexport, 16) == port:  # 0A = LISTEN
                found.add(addr)
    return found


def _api(port, path, body=None):
    url = f'http://127.0.0.1:{port}/api/2.0/mlflow/{path}'
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_jedi_ui_rest_api_lists_study_runs(tmp_path, toy_store, stub_path):
    spec = write_spec(tmp_path, toy_store, 'name: uistudy\nseeds: [0]\nspace:\n  model.gamma: [0.0, 0.4]\n'
                      'sampler: grid\nobjective: mean/teacher/top1\n')
    # The study's runs, written in this process (test_study_integration covers worker processes).
    from jedi_repro.studies.runner import prepare
    from jedi_repro.studies.spec import load_spec
    from jedi_repro.studies.storage import storage_url
    from jedi_repro.studies.worker import run_worker
    from jedi_repro.tracking.client import RetryingClient
    from jedi_repro.tracking.runs import end_run

    loaded = load_spec(spec)
    client = RetryingClient()
    study = prepare(loaded, storage_url(loaded), client)
    assert run_worker(str(spec), storage_url(loaded), train_fn=stub_path) == 2
    end_run(client, study.user_attrs['jedi.mlflow_parent_run_id'])
    port = _free_port()
    jedi = os.path.join(os.path.dirname(sys.executable), 'jedi')
    proc = subprocess.Popen([jedi, 'ui', '--port', str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 90
        exp = None
        while time.time() < deadline and proc.poll() is None:
            try:
                exp = _api(port, 'experiments/get-by-name?experiment_name=uistudy')['experiment']
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        assert exp is not None, proc.stdout.read().decode() if proc.poll() is not None else 'server not up'
        body = {'experiment_ids': [exp['experiment_id']], 'max_results': 100}
        runs = _api(port, 'runs/search', body)['runs']
        tags = [{t['key']: t['value'] for t in r['data']['tags']} for r in runs]
        roles = sorted(t['jedi.role'] for t in tags)
        assert roles == ['seed', 'seed', 'study', 'trial', 'trial']
        assert all(r['info']['status'] == 'FINISHED' for r in runs)
        seed_run = next(r for r, t in zip(runs, tags) if t['jedi.role'] == 'seed')
        assert any(m['key'] == 'test/mean/teacher/top1' for m in seed_run['data']['metrics'])
        assert _listen_addresses(port) == {'0100007F'}  # bound to 127.0.0.1 only
    finally:
        proc.send_signal(signal.SIGTERM)  # stop by PID; `jedi ui` stops the server's process group
        rc = proc.wait(timeout=30)
    assert rc == 0
    with socket.socket() as s:
        assert s.connect_ex(('127.0.0.1', port)) != 0  # nothing listens any more


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _jedi_ui(port, **kw):
    env = {**os.environ, 'PYTHONPATH': REPO}
    return subprocess.Popen([sys.executable, '-m', 'jedi_repro.cli', 'ui', '--port', str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _proc_table() -> dict[int, tuple[int, int, str]]:
    """{pid: (ppid, pgid, state)} of every process, from /proc."""
    table = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            stat = open(f'/proc/{name}/stat').read()
        except OSError:
            continue
        fields = stat[stat.rindex(')') + 2:].split()  # after "pid (comm) "
        table[int(name)] = (int(fields[1]), int(fields[2]), fields[0])
    return table


def _family(root: int) -> tuple[set[int], set[int]]:
    """The live descendants of ``root`` and the process groups they are in."""
    table = _proc_table()
    found, frontier = set(), {root}
    while frontier:
        frontier = {p for p, (pp, _, st) in table.items() if pp in frontier and st != 'Z'} - found
        found |= frontier
    return found, {table[p][1] for p in found}


def _alive(pids: set[int], groups: set[int]) -> set[int]:
    table = _proc_table()
    return {p for p, (_, pg, st) in table.items() if st != 'Z' and (p in pids or pg in groups)}


def _wait_up(proc, port, limit_s=90):
    deadline = time.time() + limit_s
    while time.time() < deadline and proc.poll() is None:
        try:
            _api(port, 'experiments/search', {'max_results': 1})
            time.sleep(2)  # let the server start its worker and job-consumer processes
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.5)
    raise AssertionError(proc.communicate(timeout=5) if proc.poll() is not None else 'server not up')


def _cleanup(proc):
    """Whatever the test's outcome: `jedi ui` and every process of its server's groups are gone."""
    pids, groups = _family(proc.pid)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for group in groups - {os.getpgid(0)}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)


@pytest.mark.parametrize('how', ['ctrl-c', 'sigkill'])
def test_stopping_jedi_ui_leaves_no_server_process(tmp_path, how):
    """SIGINT (Ctrl-C) or SIGKILL to `jedi ui`: the mlflow server and every process it started are gone."""
    port = _free_port()
    proc = _jedi_ui(port)
    try:
        _wait_up(proc, port)
        pids, groups = _family(proc.pid)
        assert pids, 'the server runs as a child of jedi ui'
        assert proc.pid not in groups or len(groups) > 1  # the server has its own process group
        if how == 'ctrl-c':
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0
        else:  # no handler runs: the server learns of it from PR_SET_PDEATHSIG and stops its workers
            proc.kill()
            proc.wait(timeout=30)
        deadline = time.time() + 30
        while _alive(pids, groups) and time.time() < deadline:
            time.sleep(0.2)
        assert not _alive(pids, groups), _alive(pids, groups)
    finally:
        _cleanup(proc)


def test_port_in_use_fails_at_once_with_a_clear_error():
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        t0 = time.time()
        proc = _jedi_ui(port)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and time.time() - t0 < 30
    assert 'MLflow UI on' not in out  # no banner for a server that never started
    assert err.startswith('error: jedi ui: cannot serve on 127.0.0.1:') and '--port' in err
    assert 'Traceback' not in err
