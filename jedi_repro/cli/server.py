"""`jedi server`: the MLflow tracking server that study workers on several machines log to."""
from __future__ import annotations

import argparse
import sys


def register(sub):
    p = sub.add_parser(
        'server', help='Start the shared MLflow tracking server (database backend, proxied artifacts)',
        description='Create the MLflow tracking schema in the database once, then serve `mlflow server` on '
                    'it with proxied artifacts, until interrupted. Workers log to it with '
                    'MLFLOW_TRACKING_URI=http://HOST:PORT (see README, "Scaling out").',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='example:\n  jedi server --backend-store-uri postgresql://jedi@dbhost:5432/mlflow '
               '--artifacts-destination /shared/mlflow-artifacts --host 0.0.0.0 --port 5000')
    p.add_argument('--backend-store-uri', required=True,
                   help='tracking database, e.g. postgresql://USER@HOST:PORT/DB (or sqlite:///FILE)')
    p.add_argument('--artifacts-destination', default=None,
                   help='where the server stores artifacts (default $JEDI_HOME/mlflow/artifacts)')
    p.add_argument('--host', default='127.0.0.1',
                   help='address to bind (default 127.0.0.1; a cluster needs the node\'s address, and '
                        'anything but loopback exposes the runs on the network)')
    p.add_argument('--port', type=int, default=5000, help='port (default 5000)')
    p.add_argument('--workers', type=int, default=1, help='server worker processes (default 1)')
    p.set_defaults(func=_server)


def _server(args) -> int:
    from jedi_repro import workspace
    from jedi_repro.cli.ui import supervise
    from jedi_repro.errors import JediError
    from jedi_repro.tracking.server import LOOPBACK, init_schema, server_command

    if not 0 < args.port < 65536:
        raise JediError(f'--port {args.port} is not a TCP port')
    if args.workers < 1:
        raise JediError(f'--workers must be at least 1, got {args.workers}')
    artifacts = args.artifacts_destination or workspace.mlflow_artifacts_dir()
    if args.host not in LOOPBACK:
        print(f'warning: binding {args.host} exposes the tracking server beyond this machine',
              file=sys.stderr)
    init_schema(args.backend_store_uri, artifacts)
    from jedi_repro.console import verbose
    cmd = server_command(args.backend_store_uri, artifacts, args.host, args.port, args.workers,
                         access_log=verbose())
    print(f'MLflow tracking server on http://{args.host}:{args.port} (artifacts in {artifacts}); workers: '
          f'export MLFLOW_TRACKING_URI=http://{args.host}:{args.port}  (Ctrl-C to stop)', flush=True)
    return supervise(cmd)
