"""A throwaway PostgreSQL cluster on loopback: for tests, benchmarks and trying the cluster recipe alone.

``with LocalPostgres() as pg: url = pg.create_database('optuna')`` runs Debian's ``initdb`` into a new
temporary directory and ``postgres`` on 127.0.0.1 and a free port (trust authentication for the one role
``jedi``, loopback only, fsync off: the data is disposable), and on exit stops the server by the PID in
its ``postmaster.pid`` and deletes the directory. Never a system service.

PostgreSQL refuses to run as root (``initdb: cannot be run as root``). Run as root (CI, containers), the
cluster directory is handed to the ``postgres`` account that Debian's package creates and the binaries run
through ``runuser -u postgres --``; its parent is ``/tmp`` (world-searchable), since a pytest ``tmp_path``
(mode 0700, owned by root) cannot be entered by that account.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from jedi_repro.errors import JediError

ROLE = 'jedi'


def find_bin_dir() -> Path | None:
    """Where ``initdb`` and ``postgres`` are: on PATH, else Debian's newest ``/usr/lib/postgresql/*/bin``."""
    found = shutil.which('initdb')
    if found and shutil.which('postgres'):
        return Path(found).resolve().parent
    dirs = sorted(glob.glob('/usr/lib/postgresql/*/bin'), key=lambda d: int(Path(d).parent.name)
                  if Path(d).parent.name.isdigit() else 0)
    return Path(dirs[-1]) if dirs and Path(dirs[-1], 'initdb').is_file() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class LocalPostgres:
    """A PostgreSQL server of its own, on 127.0.0.1; see the module docstring.

    Args:
        bin_dir: PostgreSQL binaries (default :func:`find_bin_dir`).
        startup_s: how long to wait for the server to accept connections.
    """

    def __init__(self, bin_dir: str | Path | None = None, startup_s: float = 60.0):
        self.bin_dir = Path(bin_dir) if bin_dir else find_bin_dir()
        if self.bin_dir is None:
            raise JediError('PostgreSQL is not installed (no initdb on PATH or under /usr/lib/postgresql); '
                            'on Debian: apt-get install -y postgresql')
        self.startup_s = startup_s
        self.root: Path | None = None
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None

    # ------------------------------------------------------------------ process helpers
    def _as_owner(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        runuser = shutil.which('runuser') or '/usr/sbin/runuser'  # util-linux; /usr/sbin may be off PATH
        return [runuser, '-u', 'postgres', '--']

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as_owner(), str(self.bin_dir / args[0]), *args[1:]],
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise JediError(f'PostgreSQL {args[0]} failed (exit {done.returncode}): '
                            f'{(done.stderr or done.stdout).strip()[-800:]}')

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalPostgres:
        self.root = Path(tempfile.mkdtemp(prefix='jedi-pg-', dir='/tmp'))
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam('postgres')
            except KeyError:
                raise JediError('running as root needs the "postgres" account (Debian\'s postgresql package '
                                'creates it): PostgreSQL refuses to run as root') from None
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        data = self.root / 'data'
        self._run('initdb', '-D', str(data), '-U', ROLE, '--auth=trust', '-E', 'UTF8', '--no-sync')
        self.port = _free_port()
        self._spawn()
        return self

    def _spawn(self) -> None:
        data = self.root / 'data'
        log = open(self.root / 'server.log', 'ab')  # noqa: SIM115 - the server holds its own descriptor
        try:
            self._proc = subprocess.Popen(
                [*self._as_owner(), str(self.bin_dir / 'postgres'), '-D', str(data), '-h', '127.0.0.1',
                 '-p', str(self.port), '-k', str(self.root), '-c', 'fsync=off',
                 '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        self._wait_ready()

    def halt(self) -> None:
        """Stop the server (fast shutdown) and keep its data: an outage; :meth:`restart` ends it."""
        pid = self.server_pid()
        if pid:
            os.kill(pid, signal.SIGINT)
        self._proc.wait(timeout=60)

    def restart(self) -> None:
        """Start the halted server again on the same port and data."""
        self._spawn()

    def _wait_ready(self) -> None:
        import psycopg
        deadline = time.time() + self.startup_s
        last = None
        while time.time() < deadline:
            if self._proc.poll() is not None:
                break
            try:
                psycopg.connect(self.url('postgres'), connect_timeout=2).close()
                return
            except psycopg.OperationalError as exc:
                last = exc
                time.sleep(0.2)
        log = (self.root / 'server.log').read_text(errors='replace')[-800:]
        self.stop()
        raise JediError(f'PostgreSQL did not start on 127.0.0.1 ({last}); its log: {log}')

    def url(self, database: str) -> str:
        return f'postgresql://{ROLE}@127.0.0.1:{self.port}/{database}'

    def create_database(self, name: str) -> str:
        """``CREATE DATABASE name``; returns its URL."""
        import psycopg
        conn = psycopg.connect(self.url('postgres'), autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)

    def server_pid(self) -> int | None:
        """The postmaster's PID (first line of ``postmaster.pid``), not the ``runuser`` wrapper's."""
        try:
            return int((self.root / 'data' / 'postmaster.pid').read_text().split()[0])
        except (OSError, ValueError, IndexError, TypeError):
            return None

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster), wait, delete the cluster directory."""
        if self.root is None:
            return
        pid = self.server_pid()
        if pid:
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        if self._proc is not None:
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                if pid:
                    os.kill(pid, signal.SIGKILL)
                self._proc.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
