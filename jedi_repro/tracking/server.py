"""The shared MLflow tracking server of a cluster: ``mlflow server`` on a database, with proxied artifacts.

``jedi server --backend-store-uri postgresql://... --artifacts-destination DIR`` creates the tracking
schema once, in this one process, then starts ``mlflow server`` on it (its workers each open the store;
none of them creates the schema, so they cannot race to). Workers on any machine log to it through
``MLFLOW_TRACKING_URI=http://HOST:PORT``; artifacts go through the server (``--artifacts-destination``,
``mlflow-artifacts:/`` URIs), so the workers need no shared file system for them. Experiments are created
by ``jedi study run`` before its workers start (several processes creating one experiment at once race:
MLflow issue 1811).
"""
from __future__ import annotations

import sys
from pathlib import Path

from jedi_repro.errors import JediError

LOOPBACK = ('127.0.0.1', 'localhost', '::1')


def init_schema(backend_uri: str, artifacts_destination: str | Path) -> None:
    """Create (or check) the MLflow tracking tables of ``backend_uri`` once, before the server's workers.

    Raises:
        JediError: the database cannot be reached or holds another schema (the message names the URI).
    """
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    try:
        store = SqlAlchemyStore(backend_uri, Path(artifacts_destination).resolve().as_uri())
        store.engine.dispose()
    except Exception as exc:  # noqa: BLE001 - driver missing, server down, wrong credentials, bad schema
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ''
        raise JediError(f'--backend-store-uri {backend_uri}: cannot open or create the MLflow tracking '
                        f'schema ({type(exc).__name__}: {first})') from None


def server_command(backend_uri: str, artifacts_destination: str | Path, host: str = '127.0.0.1',
                   port: int = 5000, workers: int = 1, access_log: bool = False) -> list[str]:
    """The ``mlflow server`` command line with proxied artifacts; without ``access_log`` no line per
    HTTP request (``jedi server -v`` prints them)."""
    cmd = [sys.executable, '-m', 'mlflow', 'server', '--backend-store-uri', backend_uri,
           '--artifacts-destination', str(Path(artifacts_destination).resolve()), '--serve-artifacts',
           '--host', host, '--port', str(int(port)), '--workers', str(int(workers))]
    return cmd if access_log else [*cmd, '--uvicorn-opts', '--no-access-log']
