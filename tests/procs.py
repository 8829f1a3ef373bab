"""Start ``jedi`` as a real subprocess (own process group), wait for files, and run a real `mlflow server` to
fail, for kill/resume and fault tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def jedi(args, log: Path, env: dict | None = None) -> subprocess.Popen:
    """``python -m jedi_repro.cli ARGS`` in its own process group, output to ``log``."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get('PYTHONPATH', '')) if p)
    # unbuffered: the tests read the console lines while the process runs
    full_env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': path, 'PYTHONUNBUFFERED': '1',
                **(env or {})}
    with open(log, 'ab') as out:
        return subprocess.Popen([sys.executable, '-m', 'jedi_repro.cli', *map(str, args)], stdout=out,
                                stderr=subprocess.STDOUT, env=full_env, start_new_session=True,
                                preexec_fn=_default_sigint)


def _default_sigint() -> None:
    """A job started in the background by a non-interactive shell (as CI may run the suite) inherits
    SIGINT ignored, and Python then installs no KeyboardInterrupt handler: give the child a terminal's
    default, as when a user runs the command."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(predicate, timeout_s: float = 120, what: str = 'condition', proc=None) -> None:
    """Poll ``predicate`` every 50 ms; fail the test with ``what`` after ``timeout_s``."""
    t0 = time.time()
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f'process exited with {proc.returncode} before {what}')
        if time.time() - t0 > timeout_s:
            raise AssertionError(f'timed out after {timeout_s} s waiting for {what}')
        time.sleep(0.05)


def group_alive(pgid: int) -> bool:
    """Whether any process of process group ``pgid`` is still running (zombies count as gone)."""
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            fields = stat.read_text().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != 'Z':
            return True
    return False


def kill_group(proc: subprocess.Popen) -> None:
    """Teardown: SIGKILL whatever of the group is left."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class MlflowServer:
    """`mlflow server` on 127.0.0.1 with a SQLite backend; stop() and start() again on the same port/db."""

    def __init__(self, root: Path):
        self.root, self.port, self.proc = root, free_port(), None
        self.uri = f'http://127.0.0.1:{self.port}'

    def start(self):
        from jedi_repro.tracking.server import server_command
        cmd = server_command(f'sqlite:///{self.root}/mlflow.db', self.root / 'artifacts', port=self.port)
        with open(self.root / 'server.log', 'ab') as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        from jedi_repro.tracking.offline import probe
        wait_for(lambda: probe(self.uri, timeout=1) is None, 180, 'the mlflow server', self.proc)
        return self

    def stop(self):
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # as a crash or a pulled cable: no goodbye
            self.proc.wait(timeout=30)
            self.proc = None

    def client(self):
        from mlflow.tracking import MlflowClient
        return MlflowClient(self.uri)
