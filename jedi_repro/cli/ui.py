"""`jedi ui`: start the MLflow UI on the workspace database (loopback by default)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

STOP_GRACE_S = 15.0


def register(sub):
    p = sub.add_parser('ui', help='Start the MLflow UI on the workspace database',
                       description='Serve the MLflow UI and REST API for the workspace tracking database '
                                   '($MLFLOW_TRACKING_URI, else $JEDI_HOME/mlflow/mlflow.db) until '
                                   'interrupted. For the Optuna storage use optuna-dashboard '
                                   '(see studies/README.md).')
    p.add_argument('--port', type=int, default=5000, help='port (default 5000)')
    p.add_argument('--host', default='127.0.0.1',
                   help='address to bind (default 127.0.0.1; anything else exposes the runs on the network)')
    p.set_defaults(func=_ui)


def mlflow_command(host: str, port: int) -> list[str]:
    """The ``mlflow server`` command line on the workspace database and artifact root."""
    from jedi_repro import workspace

    return [sys.executable, '-m', 'mlflow', 'server', '--backend-store-uri', workspace.mlflow_uri(),
            '--default-artifact-root', workspace.mlflow_artifacts_dir().as_uri(),
            '--host', host, '--port', str(port), '--workers', '1']


def _ui(args) -> int:
    from jedi_repro.errors import JediError

    if not 0 < args.port < 65536:
        raise JediError(f'--port {args.port} is not a TCP port')
    if args.host not in ('127.0.0.1', 'localhost', '::1'):
        print(f'warning: binding {args.host} exposes the MLflow UI beyond this machine', file=sys.stderr)
    cmd = mlflow_command(args.host, args.port)
    print(f'MLflow UI on http://{args.host}:{args.port} (Ctrl-C to stop)', flush=True)
    return supervise(cmd)


def supervise(cmd: list[str]) -> int:
    """Run ``cmd`` in its own process group until it exits or this process gets SIGTERM/SIGINT.

    Stopping this process (SIGTERM/SIGINT to its PID) stops the whole group (mlflow and its workers).
    """
    proc = subprocess.Popen(cmd, start_new_session=True)
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
    _signal_group(proc, signal.SIGTERM)  # stragglers of the group (uvicorn workers)
    return 0 if stopping else rc


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
