"""`jedi ui`: start the MLflow UI on the workspace database (loopback by default)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

STOP_GRACE_S = 15.0


def register(sub):
    p = sub.add_parser('ui', help='Start the MLflow UI on the workspace database',
                       description='Serve the MLflow UI and REST API for the workspace tracking database '
                                   '($MLFLOW_TRACKING_URI, else $JEDI_HOME/mlflow/mlflow.db) until '
                                   'interrupted. Quiet: no line per HTTP request unless -v. For the Optuna '
                                   'storage use optuna-dashboard (see studies/README.md).')
    p.add_argument('--port', type=int, default=5000, help='port (default 5000)')
    p.add_argument('--host', default='127.0.0.1',
                   help='address to bind (default 127.0.0.1; anything else exposes the runs on the network)')
    p.add_argument('--study', default=None,
                   help="print only this study's link (default: every study's): its runs page with one row "
                        'per configuration, the objective and the main test means as columns, sorted by '
                        'the objective')
    p.add_argument('--open', action='store_true',
                   help="open the link (the study's, or the UI's home) in a browser once the server answers")
    p.set_defaults(func=_ui)


def mlflow_command(host: str, port: int, access_log: bool = False) -> list[str]:
    """The ``mlflow server`` command line on the workspace database and artifact root; without
    ``access_log`` (``jedi ui`` without ``-v``) uvicorn prints no line per HTTP request."""
    from jedi_repro import workspace

    cmd = [sys.executable, '-m', 'mlflow', 'server', '--backend-store-uri', workspace.mlflow_uri(),
           '--default-artifact-root', workspace.mlflow_artifacts_dir().as_uri(),
           '--host', host, '--port', str(port), '--workers', '1']
    return cmd if access_log else [*cmd, '--uvicorn-opts', '--no-access-log']


def _ui(args) -> int:
    from jedi_repro.errors import JediError

    if not 0 < args.port < 65536:
        raise JediError(f'--port {args.port} is not a TCP port')
    if args.host not in ('127.0.0.1', 'localhost', '::1'):
        print(f'warning: binding {args.host} exposes the MLflow UI beyond this machine', file=sys.stderr)
    check_port_free(args.host, args.port)
    from jedi_repro import workspace
    from jedi_repro.tracking.client import ensure_store
    ensure_store(workspace.mlflow_uri())  # a new workspace: the schema once, artifacts in the workspace
    from jedi_repro.console import verbose
    cmd = mlflow_command(args.host, args.port, access_log=verbose())
    base = f'http://{f"[{args.host}]" if ":" in args.host else args.host}:{args.port}'
    links = study_links(workspace.mlflow_uri(), base, args.study)
    print(f'MLflow UI on {base} (Ctrl-C to stop)', flush=True)
    for name, url in links:
        print(f'  study {name}: {url}', flush=True)
    if args.open:
        open_when_up(links[0][1] if len(links) == 1 else base, args.host, args.port)
    return supervise(cmd)


def study_links(tracking_uri: str, base: str, study: str | None = None) -> list[tuple[str, str]]:
    """``[(study, URL), ...]``: each study's runs view (``jedi_repro.tracking.views``), by name.

    Raises:
        JediError: ``study`` names no study of the tracking store.
    """
    from jedi_repro.errors import JediError
    from jedi_repro.tracking.client import RetryingClient
    from jedi_repro.tracking.views import has_view, runs_url

    client = RetryingClient(tracking_uri)
    experiments = [e for e in client.search_experiments(max_results=1000) if has_view(e)]
    links = sorted((e.name, runs_url(base, e.experiment_id)) for e in experiments)
    if study is not None:
        links = [link for link in links if link[0] == study]
        if not links:
            known = ', '.join(e.name for e in experiments) or 'none yet'
            raise JediError(f'jedi ui --study {study}: no such study in the tracking store {tracking_uri} '
                            f'(studies there: {known}). Run it with `jedi study run SPEC` first.')
    return links


def open_when_up(url: str, host: str, port: int, limit_s: float = 120.0) -> None:
    """Open ``url`` in the user's browser once the server accepts connections (in the background)."""
    import threading
    import webbrowser

    def wait_and_open():
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((host, port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            return
        if not webbrowser.open(url):
            print(f'jedi ui: no browser to open; visit {url}', file=sys.stderr, flush=True)

    threading.Thread(target=wait_and_open, daemon=True).start()


def supervise(cmd: list[str]) -> int:
    """Run ``cmd`` in its own process group until it exits or this process gets SIGTERM/SIGINT.

    Stopping this process (SIGTERM/SIGINT to its PID) stops the whole group (mlflow and its workers); a
    SIGKILL of this process still stops the server (``die_with_parent``), which then stops its workers.
    """
    from jedi_repro.errors import JediError
    from jedi_repro.processes import die_with_parent

    proc = subprocess.Popen(cmd, start_new_session=True, preexec_fn=die_with_parent)
    stopping: list[float] = []

    def stop(signum, frame):
        # Only forward the signal here: waiting inside a handler can deadlock on Popen's wait lock.
        if not stopping:
            stopping.append(time.monotonic())
            _signal_group(proc, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        try:
            rc = proc.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if stopping and time.monotonic() - stopping[0] > STOP_GRACE_S:
                _signal_group(proc, signal.SIGKILL)
    stop_group(proc.pid)  # stragglers of the group (uvicorn workers, huey job consumers)
    if stopping:
        return 0
    if rc:
        raise JediError(f'the MLflow server stopped with exit status {rc} (its output is above); command: '
                        f'{" ".join(cmd)}')
    return rc


def check_port_free(host: str, port: int) -> None:
    """Fail at once, before any banner, when ``host:port`` cannot be bound (taken, or a bad address)."""
    from jedi_repro.errors import JediError

    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise JediError(f'jedi ui: cannot serve on {host}:{port}: {exc.strerror or exc}. Another '
                            f'program (perhaps an earlier `jedi ui` or `mlflow server`) already listens '
                            f'there; stop it or choose another port with --port.') from None


def stop_group(pgid: int, grace_s: float = 5.0) -> None:
    """SIGTERM every process of a group, then SIGKILL what is left after ``grace_s``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)  # does any process of the group remain?
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.1)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
