"""Tracking that never stops training: a probe before work, a local replayable record during an outage.

- :func:`preflight`: an ``http(s)://`` tracking server that does not answer ``/health`` within seconds is
  reported before anything starts (one paragraph: the URI, how to start one, ``--mlflow-offline``,
  ``--no-mlflow``). MLflow's own client would retry for minutes first.
- :class:`BufferedClient`: the writes of one run (metrics, params, tags, artifacts, its end) go to MLflow
  while it answers; when a write fails because the server is unreachable, it and every later write are
  appended to ``RUN_DIR/mlflow_pending.jsonl`` (artifacts copied beside it), the console says once that
  tracking is behind, and the record is sent as soon as the server answers again (tried at most every
  ``JEDI_TRACKING_RETRY_S`` seconds, and once more at the end of the run). With ``offline=True``
  (``jedi train --mlflow-offline``) every write is recorded and nothing is sent.
- :func:`sync` (``jedi sync RUN_DIR``) sends what is left. It is idempotent: ``mlflow_sync.json`` marks how
  many records were sent and which MLflow run a locally opened run became (found again by its
  ``jedi.offline_id`` tag); metrics carry the timestamps and steps of the moment they were logged, so a
  record sent twice (a sync killed between sending and marking) adds no second point.
- Studies (:func:`study_client`): the runner and each worker keep their records in
  ``WORK_DIR/<study>/mlflow_records/<runner|worker-N>/``. A run opened during an outage has a local id
  (``offline-<hex>``) that other processes may name (a trial's seed runs name it as their parent, Optuna keeps
  it); every process of the study resolves local ids through its peers' ``mlflow_sync.json``, and a record
  that names a run no record has sent yet waits for it (:func:`sync_all` sends the study's records in the
  order they need).
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from jedi_repro import workspace
from jedi_repro.atomic import write_json_atomic
from jedi_repro.errors import JediError
from jedi_repro.tracking.client import TrackingError

PENDING = 'mlflow_pending.jsonl'
SYNC_STATE = 'mlflow_sync.json'
PENDING_FILES = 'mlflow_pending_files'
OFFLINE_TAG = 'jedi.offline_id'
#: a run opened while the server did not answer, until a replay maps it to MLflow's id
LOCAL_ID = re.compile(r'offline-[0-9a-f]{32}')
#: where a study's processes keep their records (under the study's work dir), one directory per process
STUDY_RECORDS = 'mlflow_records'
LOCK = '.lock'
PROBE_TIMEOUT_S = 5.0
RETRY_ENV = 'JEDI_TRACKING_RETRY_S'
OFFLINE_ENV = 'JEDI_MLFLOW_OFFLINE'
#: one HTTP attempt with a short timeout while a run records (MLflow's default retries for ~4 minutes)
QUICK_HTTP = {'MLFLOW_HTTP_REQUEST_MAX_RETRIES': '0', 'MLFLOW_HTTP_REQUEST_TIMEOUT': '10'}
OUTAGE_MARKERS = ('max retries exceeded', 'connection refused', 'connection aborted', 'connection reset',
                  'timed out', 'failed to establish a new connection', 'name or service not known',
                  'remote end closed connection', 'service unavailable', 'bad gateway', 'gateway timeout',
                  'database or disk is full', 'disk i/o error')
WRITES = frozenset({'create_run', 'log_batch', 'set_tag', 'delete_tag', 'set_terminated', 'update_run',
                    'log_text', 'log_dict', 'log_artifact', 'log_inputs'})


def is_remote(uri: str) -> bool:
    return str(uri).startswith(('http://', 'https://'))


def shown_uri(uri: str) -> str:
    """The URI without a password (``http://user:***@host``)."""
    parts = urllib.parse.urlsplit(str(uri))
    if parts.password is None:
        return str(uri)
    netloc = parts.netloc.replace(f':{parts.password}@', ':***@')
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def probe(uri: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why the tracking server at ``uri`` does not answer (None: it answers, or ``uri`` is no server)."""
    if not is_remote(uri):
        return None
    parts = urllib.parse.urlsplit(uri)
    url = urllib.parse.urlunsplit(parts._replace(netloc=parts.hostname + (f':{parts.port}' if parts.port
                                                                           else ''),
                                                 path=parts.path.rstrip('/') + '/health', query=''))
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s) only
            return None if response.status < 500 else f'HTTP {response.status}'
    except urllib.error.HTTPError as exc:
        return None if exc.code < 500 else f'HTTP {exc.code}'
    except Exception as exc:  # noqa: BLE001 - refused, timed out, unknown host: all say "not answering"
        reason = getattr(exc, 'reason', exc)
        return f'{type(reason).__name__}: {reason}' if not isinstance(reason, str) else reason


def unreachable_message(uri: str, reason: str) -> str:
    return (f'the MLflow tracking server {shown_uri(uri)} (MLFLOW_TRACKING_URI) does not answer ({reason}); '
            'nothing was started. Start it (on its host: `jedi server --backend-store-uri URL '
            '--artifacts-destination DIR --port PORT`; `jedi ui` serves the local workspace database), or '
            'train without it: --mlflow-offline keeps the run\'s MLflow record in its work dir and '
            '`jedi sync WORK_DIR` sends it once the server answers; --no-mlflow logs nothing')


def preflight(uri: str | None = None) -> None:
    """Refuse (``TrackingError``) a tracking server that does not answer, in seconds, before any work."""
    uri = uri or workspace.mlflow_uri()
    reason = probe(uri)
    if reason is not None:
        raise TrackingError(unreachable_message(uri, reason))


def offline_requested(flag: bool = False) -> bool:
    """``--mlflow-offline`` or ``JEDI_MLFLOW_OFFLINE=1``."""
    return bool(flag) or os.environ.get(OFFLINE_ENV, '') not in ('', '0')


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it chains) says the tracking store cannot be reached right now."""
    import requests
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
            return True
        if any(m in str(exc).lower() for m in OUTAGE_MARKERS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@contextlib.contextmanager
def quick_http():
    """MLflow's HTTP calls inside: one attempt, a short timeout (a caller that records instead waits less)."""
    old = {k: os.environ.get(k) for k in QUICK_HTTP}
    os.environ.update(QUICK_HTTP)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ---------------------------------------------------------------------------------------------- encoding
def _encode(value: Any) -> Any:
    from mlflow.entities import DatasetInput, Metric, Param, RunTag
    if isinstance(value, Metric):
        return {'__metric__': [value.key, value.value, value.timestamp, value.step]}
    if isinstance(value, Param):
        return {'__param__': [value.key, value.value]}
    if isinstance(value, RunTag):
        return {'__tag__': [value.key, value.value]}
    if isinstance(value, DatasetInput):
        from google.protobuf.json_format import MessageToDict
        return {'__dataset_input__': MessageToDict(value.to_proto())}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any) -> Any:
    from mlflow.entities import DatasetInput, Metric, Param, RunTag
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if '__metric__' in value:
        return Metric(*value['__metric__'])
    if '__param__' in value:
        return Param(*value['__param__'])
    if '__tag__' in value:
        return RunTag(*value['__tag__'])
    if '__dataset_input__' in value:
        from google.protobuf.json_format import ParseDict
        from mlflow.protos.service_pb2 import DatasetInput as ProtoDatasetInput
        return DatasetInput.from_proto(ParseDict(value['__dataset_input__'], ProtoDatasetInput()))
    return {k: _decode(v) for k, v in value.items()}


def _map_local_ids(value: Any, fn) -> Any:
    """``value`` with ``fn`` applied to every local run id it names (in ids, parent tags, notes; a run's own
    ``jedi.offline_id`` is left alone: it is how a replay finds the run again)."""
    from mlflow.entities import RunTag
    if isinstance(value, str):
        return LOCAL_ID.sub(lambda m: fn(m[0]), value) if 'offline-' in value else value
    if isinstance(value, RunTag):
        return value if value.key == OFFLINE_TAG else RunTag(value.key, _map_local_ids(value.value, fn))
    if isinstance(value, (list, tuple)):
        return type(value)(_map_local_ids(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: v if k == OFFLINE_TAG else _map_local_ids(v, fn) for k, v in value.items()}
    return value


def _substitute(value: Any, ids: dict[str, str]) -> Any:
    """``value`` with every local run id that ``ids`` maps replaced by MLflow's."""
    return _map_local_ids(value, lambda local: ids.get(local, local))


def _local_ids(value: Any) -> set[str]:
    """The local run ids ``value`` names (a run's own ``jedi.offline_id`` aside)."""
    found: set[str] = set()
    _map_local_ids(value, lambda local: found.add(local) or local)
    return found


def _say(text: str) -> None:
    """A line on stderr above the progress bar (``tqdm.write`` keeps the bar whole)."""
    try:
        from tqdm import tqdm
        tqdm.write(text, file=sys.stderr)
    except ImportError:
        print(text, file=sys.stderr, flush=True)


class RecordInUse(JediError):
    """A study process that is still running holds this record; it sends it itself."""


class BufferedClient:
    """The tracking client of one run directory: writes never fail for an unreachable server.

    Args:
        run_dir: where ``mlflow_pending.jsonl`` and ``mlflow_sync.json`` live (the run's work dir).
        tracking_uri: default ``workspace.mlflow_uri()``.
        offline: record every write, send nothing (``--mlflow-offline``).
        client: an open :class:`~jedi_repro.tracking.client.RetryingClient` (default: opened when needed).
        say: where the one-line notices go (default stderr).
        peers: a directory whose subdirectories hold the records of the other processes of one study;
            their local run ids are resolved too.
    """

    def __init__(self, run_dir, tracking_uri: str | None = None, offline: bool = False, client=None,
                 say=_say, peers=None):
        self.run_dir = Path(run_dir)
        self.peers = Path(peers) if peers is not None else None
        self.tracking_uri = tracking_uri or workspace.mlflow_uri()
        self.offline = offline
        self._client = client
        self._say = say
        self._retry_s = float(os.environ.get(RETRY_ENV, '30'))
        self.sync_hint = f'jedi sync {self.run_dir}'  # the command that sends what is left
        self._last_try = float('-inf')  # a record left by an earlier process is sent at the first write
        self._told = False
        self._tags: dict[str, dict[str, str]] = {}  # run id -> tags written through here (get_run stand-in)
        self._lock = None  # a study process's claim on run_dir (study_client)
        self._tail_checked = False
        self.behind = offline or self.pending_count() > 0

    # ------------------------------------------------------------------ record
    @property
    def pending_path(self) -> Path:
        return self.run_dir / PENDING

    def _state(self) -> dict:
        path = self.run_dir / SYNC_STATE
        try:
            state = json.loads(path.read_text()) if path.is_file() else {}
        except (OSError, ValueError):
            state = {}
        return {'sent': int(state.get('sent', 0)), 'ids': dict(state.get('ids', {})),
                'tracking_uri': state.get('tracking_uri') or self.tracking_uri}

    def _ids(self) -> dict[str, str]:
        """Local run id -> MLflow's, of this record and of its peers'."""
        ids: dict[str, str] = {}
        for path in sorted(self.peers.glob(f'*/{SYNC_STATE}')) if self.peers is not None else []:
            try:
                ids.update(json.loads(path.read_text()).get('ids', {}))
            except (OSError, ValueError):
                continue
        ids.update(self._state()['ids'])
        return ids

    def _records(self) -> list[dict]:
        if not self.pending_path.is_file():
            return []
        out = []
        for line in self.pending_path.read_bytes().splitlines(keepends=True):
            if not line.endswith(b'\n'):  # a record cut by a crash while it was appended: never sent
                break
            out.append(json.loads(line))
        return out

    def _drop_torn_tail(self) -> None:
        """A record cut by a crash while it was appended was never acknowledged: drop it before appending."""
        if not self.pending_path.is_file():
            return
        data = self.pending_path.read_bytes()
        if data and not data.endswith(b'\n'):
            with open(self.pending_path, 'r+b') as f:
                f.truncate(data.rfind(b'\n') + 1)

    def pending_count(self) -> int:
        return max(0, len(self._records()) - self._state()['sent'])

    def _append(self, op: str, args: tuple, kwargs: dict) -> None:
        if op == 'log_artifact':  # the file may be temporary (a figure): keep a copy beside the record
            local = Path(args[1] if len(args) > 1 else kwargs.pop('local_path'))
            keep = self.run_dir / PENDING_FILES / uuid.uuid4().hex / local.name
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(local, keep)
            args = (args[0], str(keep.relative_to(self.run_dir)), *args[2:])
        line = json.dumps({'op': op, 'args': _encode(list(args)), 'kwargs': _encode(kwargs)}) + '\n'
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if not self._tail_checked:
            self._drop_torn_tail()
            self._tail_checked = True
        if not (self.run_dir / SYNC_STATE).is_file():  # where the record belongs, for `jedi sync`
            write_json_atomic(self.run_dir / SYNC_STATE, self._state())
        with open(self.pending_path, 'a') as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    # ------------------------------------------------------------------ calls
    def _real(self):
        if self._client is None:
            from jedi_repro.tracking.client import RetryingClient
            self._client = RetryingClient(self.tracking_uri)
        return self._client

    def _send(self, op: str, args: list, kwargs: dict, ids: dict[str, str]):
        """One call to MLflow with local ids replaced by MLflow's (one quick HTTP attempt)."""
        client = self._real()
        args, kwargs = _substitute(list(args), ids), _substitute(kwargs, ids)
        if op == 'create_run':
            return self._create_run(client, args, kwargs)
        if op == 'log_artifact' and not Path(args[1]).is_absolute():
            args[1] = str(self.run_dir / args[1])
        if op == 'delete_tag':
            run = client.get_run(args[0])
            if args[1] not in run.data.tags:  # already gone (a replay)
                return None
        return getattr(client, op)(*args, **kwargs)

    def _create_run(self, client, args, kwargs):
        """Open the run, or find the one an earlier (interrupted) replay opened, by ``jedi.offline_id``."""
        from jedi_repro.tracking.runs import get_or_create_experiment
        experiment_id = args[0] if args else kwargs.pop('experiment_id')
        if str(experiment_id).startswith('offline-exp:'):
            experiment_id = get_or_create_experiment(client, experiment_id[len('offline-exp:'):])
        tags = dict(kwargs.get('tags') or {})
        local = tags.get(OFFLINE_TAG)
        if local:
            found = client.search_runs([experiment_id], filter_string=f"tags.`{OFFLINE_TAG}` = '{local}'",
                                       max_results=1)
            if found:
                return found[0]
        return client.create_run(experiment_id, **{k: v for k, v in kwargs.items() if k != 'experiment_id'})

    def _write(self, op: str, *args, **kwargs):
        if op == 'create_run':  # the start time is the run's, not the replay's
            kwargs.setdefault('start_time', int(time.time() * 1000))
        if op == 'set_terminated':
            kwargs.setdefault('end_time', int(time.time() * 1000))
        if op == 'log_artifact':  # the caller's path is relative to the cwd; a recorded one to run_dir
            local = args[1] if len(args) > 1 else kwargs.pop('local_path')
            args = (args[0], os.path.abspath(local), *args[2:])
        if not self.behind or self.catch_up():
            names = _local_ids((args, kwargs))
            ids = self._ids() if names else {}  # most writes name MLflow ids only: no state to read
            if self._waits(names, ids):  # names a run a peer has not sent yet: after it
                self.behind = True
                self._last_try = time.monotonic()
                return self._record(op, args, kwargs)
            try:
                with quick_http():
                    result = self._send(op, list(args), kwargs, ids)
                self._remember(op, args, kwargs, result)
                return result
            except Exception as exc:  # noqa: BLE001 - anything but an outage is the caller's error
                if not is_outage(exc):
                    raise
                self._fall_behind(exc)
        return self._record(op, args, kwargs)

    def _waits(self, names: set[str], ids: dict[str, str]) -> bool:
        """Whether a write naming local run ids ``names`` names a run of the study that no record has sent
        yet (it is sent after that run; a lone run's record names no other record's runs, and sends an
        unknown local id as it is)."""
        return self.peers is not None and bool(names - ids.keys())

    def _remember(self, op: str, args: tuple, kwargs: dict, result=None) -> None:
        """Keep the tags written through here: the stand-in that :meth:`get_run` gives while behind."""
        if op == 'create_run':
            self._tags[result.info.run_id] = dict(kwargs.get('tags') or {})
        elif op == 'set_tag':
            self._tags.setdefault(args[0], {})[args[1]] = str(args[2])
        elif op == 'delete_tag':
            self._tags.get(args[0], {}).pop(args[1], None)
        elif op == 'log_batch':
            for tag in kwargs.get('tags') or []:
                self._tags.setdefault(args[0], {})[tag.key] = tag.value

    def _record(self, op: str, args: tuple, kwargs: dict):
        if op == 'create_run':
            local = f'offline-{uuid.uuid4().hex}'
            kwargs = dict(kwargs, tags={**(kwargs.get('tags') or {}), OFFLINE_TAG: local})
            self._append(op, args, kwargs)
            result = SimpleNamespace(info=SimpleNamespace(run_id=local, status='RUNNING'))
            self._remember(op, args, kwargs, result)
            return result
        self._append(op, args, kwargs)
        self._remember(op, args, kwargs)
        return None

    def _fall_behind(self, exc: BaseException) -> None:
        self.behind = True
        self._last_try = time.monotonic()
        if not self._told:
            self._told = True
            # the probe's reason is one short phrase (MLflow's own names the whole request)
            first = probe(self.tracking_uri) or (str(exc).strip().splitlines()[0][:200] if str(exc).strip()
                                                 else type(exc).__name__)
            self._say(f'warning: MLflow at {shown_uri(self.tracking_uri)} does not answer ({first}); '
                      f'training goes on and keeps the run\'s MLflow record in {self.pending_path}, sent '
                      f'when the server answers again (checked every {self._retry_s:g} s; '
                      f'`{self.sync_hint}` sends it later)')

    def catch_up(self, force: bool = False) -> bool:
        """Send the pending record if the server answers (at most every ``JEDI_TRACKING_RETRY_S`` seconds
        unless ``force``); True when nothing is pending any more."""
        if self.offline:
            return False
        if not self.behind:
            return True
        if not force and time.monotonic() - self._last_try < self._retry_s:
            return False
        self._last_try = time.monotonic()
        if probe(self.tracking_uri) is not None:
            return False
        try:
            sent = self.replay()
        except Exception as exc:  # noqa: BLE001 - an outage again: stay behind
            if not is_outage(exc):
                raise
            return False
        if self.pending_count():  # a record waits for a run that a peer has not sent yet
            return False
        self.behind = False
        if self._told or sent:
            self._say(f'MLflow at {shown_uri(self.tracking_uri)} answers again: {sent} pending record(s) '
                      'sent; the run\'s MLflow record is up to date')
        return True

    def replay(self) -> int:
        """Send every record not yet marked sent, in order, up to the first that names a run no record has
        sent yet (a peer's: it waits for that peer); return how many were sent."""
        records, state = self._records(), self._state()
        ids = self._ids()
        n = 0
        for i in range(state['sent'], len(records)):
            rec = records[i]
            args, kwargs = _decode(rec['args']), _decode(rec['kwargs'])
            if self._waits(_local_ids((args, kwargs)), ids):
                break
            with quick_http():
                result = self._send(rec['op'], args, kwargs, ids)
            if rec['op'] == 'create_run':
                local = kwargs['tags'][OFFLINE_TAG]
                state['ids'][local] = ids[local] = result.info.run_id
            state['sent'] = i + 1
            write_json_atomic(self.run_dir / SYNC_STATE, state)
            n += 1
        if n:
            self._update_run_record(state['ids'])
        return n

    def _update_run_record(self, ids: dict[str, str]) -> None:
        """``mlflow_run.json`` names MLflow's run id once a locally opened run was sent (``--resume``)."""
        from jedi_repro.tracking.runs import RUN_RECORD
        path = self.run_dir / RUN_RECORD
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        if rec.get('run_id') in ids:
            write_json_atomic(path, {**rec, 'run_id': ids[rec['run_id']]}, indent=None)

    def run_id(self, run_id: str) -> str:
        """MLflow's id of ``run_id`` (a local ``offline-...`` id once it, or a peer, sent it)."""
        return self._ids().get(run_id, run_id) if LOCAL_ID.fullmatch(run_id) else run_id

    # ------------------------------------------------------------------ reads
    def get_run(self, run_id: str):
        """MLflow's run; while behind, a stand-in holding the tags written through this client."""
        if not self.behind or self.catch_up():
            try:
                with quick_http():
                    return self._real().get_run(self.run_id(run_id))
            except Exception as exc:  # noqa: BLE001
                if not is_outage(exc):
                    raise
                self._fall_behind(exc)
        if run_id not in self._tags:  # a run this process did not write: nothing to stand in with
            raise TrackingError(f'MLflow at {shown_uri(self.tracking_uri)} is not reachable to read run '
                                f'{run_id}')
        tags = dict(self._tags[run_id])
        return SimpleNamespace(info=SimpleNamespace(run_id=run_id, status='RUNNING'),
                               data=SimpleNamespace(tags=tags, params={}, metrics={}))

    def get_experiment_by_name(self, name: str):
        if not self.behind or self.catch_up():
            try:
                with quick_http():
                    return self._real().get_experiment_by_name(name)
            except Exception as exc:  # noqa: BLE001
                if not is_outage(exc):
                    raise
                self._fall_behind(exc)
        # a stand-in until sync, which creates or marks the real experiment (get_or_create_experiment);
        # its kind tag is what that call will set, so nothing is written for it while behind
        from jedi_repro.tracking.runs import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG
        return SimpleNamespace(experiment_id=f'offline-exp:{name}', name=name,
                               tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})

    def __getattr__(self, name: str):
        if name.startswith('_'):
            raise AttributeError(name)
        if name in WRITES:
            return functools.partial(self._write, name)
        if self.behind:
            raise TrackingError(f'MLflow at {shown_uri(self.tracking_uri)} is not reachable for {name}')
        return getattr(self._real(), name)


def _peers(run_dir: Path) -> Path | None:
    """The directory of a study's records when ``run_dir`` is one of them (:func:`study_client`)."""
    return run_dir.parent if run_dir.parent.name == STUDY_RECORDS else None


def _try_lock(run_dir: Path):
    """An exclusive lock on ``run_dir``'s record (the open file), or None when a live process holds it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    f = open(run_dir / LOCK, 'a')
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    return f


def study_client(study_dir: str | os.PathLike, name: str, tracking_uri: str | None = None,
                 sync_hint: str | None = None, say=_say) -> BufferedClient:
    """The tracking client of one process of a study (``name``: ``runner``, ``worker-N``), recording in
    ``STUDY_DIR/mlflow_records/NAME`` (``NAME-PID`` when another live process holds that one); records an
    earlier process left there are sent with this one's. ``sync_hint``: the command that sends what is
    left (``jedi sync SPEC``)."""
    peers = Path(study_dir) / STUDY_RECORDS
    for candidate in (name, f'{name}-{os.getpid()}'):
        lock = _try_lock(peers / candidate)
        if lock is not None:
            client = BufferedClient(peers / candidate, tracking_uri=tracking_uri, say=say, peers=peers)
            client._lock = lock  # held for the life of the process
            client.sync_hint = sync_hint or client.sync_hint
            return client
    raise JediError(f'cannot claim an MLflow record directory under {peers}: {name} and {name}-{os.getpid()} '
                    'are both held by live processes')


def sync(run_dir: str | os.PathLike, tracking_uri: str | None = None, say=_say) -> int:
    """Send a run directory's pending MLflow record (``jedi sync``); return how many records were sent.

    A record that names a run another record of the same study has not sent yet stays pending
    (:func:`sync_all` sends them in turn).

    Raises:
        JediError: nothing recorded there, a live process (a study worker) holds it, or the server does
            not answer (named, with what to do).
    """
    run_dir = Path(run_dir)
    if not (run_dir / PENDING).is_file():
        raise JediError(f'{run_dir} holds no pending MLflow record ({PENDING}); runs whose tracking was '
                        'never behind have nothing to send')
    from jedi_repro.tracking.runs import RUN_RECORD
    recorded = [json.loads((run_dir / name).read_text()).get('tracking_uri')
                for name in (SYNC_STATE, RUN_RECORD) if (run_dir / name).is_file()]
    uri = tracking_uri or next((u for u in recorded if u), None) or workspace.mlflow_uri()
    reason = probe(uri)
    if reason is not None:
        raise TrackingError(f'cannot send the MLflow record of {run_dir}: the tracking server '
                            f'{shown_uri(uri)} does not answer ({reason}). Start it, then run `jedi sync '
                            f'{run_dir}` again (what was sent before is not sent twice)')
    peers = _peers(run_dir)
    lock = _try_lock(run_dir) if peers is not None else None
    if peers is not None and lock is None:
        raise RecordInUse(f'{run_dir} belongs to a study process that is still running; it sends its '
                          'record itself (run `jedi sync` again once it has ended)')
    client = BufferedClient(run_dir, tracking_uri=uri, say=say, peers=peers)
    try:
        return client.replay()
    except Exception as exc:
        if isinstance(exc, JediError):
            raise
        if is_outage(exc):
            raise TrackingError(f'the tracking server {shown_uri(uri)} stopped answering while {run_dir} was '
                                f'sent; run `jedi sync {run_dir}` again (what was sent is not sent twice)'
                                ) from None
        raise
    finally:
        if lock is not None:
            lock.close()


def finish(client: BufferedClient, what: str, whole_study: bool = False, say=None) -> int:
    """A last try to send ``client``'s record as its process ends; returns how many records are left (of every
    process of the study with ``whole_study``), after one paragraph that says where they are and which command
    sends them (to ``say``, default the client's)."""
    try:
        client.catch_up(force=True)
    except Exception as exc:  # noqa: BLE001 - the record stays; the paragraph below says how to send it
        client._say(f'warning: sending the MLflow record in {client.pending_path} failed: {exc}')
    study = whole_study and client.peers is not None
    left = study_pending(client.peers) if study else client.pending_count()
    if left:
        (say or client._say)(
            f'warning: MLflow at {shown_uri(client.tracking_uri)} did not take {left} record(s) of {what}; '
            f'they are kept in {client.peers if study else client.pending_path}. Nothing else is affected '
            f'(the results are in the work dirs and the study journal); `{client.sync_hint}` sends them once '
            'the server answers, and sending twice gives the same MLflow record.')
    return left


def pending_count(run_dir: str | os.PathLike) -> int:
    """How many records of ``run_dir`` were not sent yet."""
    return BufferedClient(run_dir, offline=True).pending_count()


def study_pending(peers: str | os.PathLike) -> int:
    """How many records the processes of a study (``STUDY_DIR/mlflow_records``) have not sent yet."""
    return sum(pending_count(d) for d in Path(peers).iterdir() if d.is_dir()) if Path(peers).is_dir() else 0


def sync_all(run_dirs, tracking_uri: str | None = None, say=_say) -> dict[Path, tuple[int, int]]:
    """:func:`sync` every directory, again while any sends more (a study's records wait for each other's
    runs); returns ``{dir: (records sent, records left)}``. A directory a live process holds is left to it."""
    sent = {Path(d): 0 for d in run_dirs}
    busy: set[Path] = set()
    progress = True
    while progress:
        progress = False
        for run_dir in sent:
            if run_dir in busy or not pending_count(run_dir):
                continue
            try:
                n = sync(run_dir, tracking_uri, say=say)
            except RecordInUse as exc:
                busy.add(run_dir)
                say(str(exc))
                continue
            sent[run_dir] += n
            progress = progress or n > 0
    return {d: (n, pending_count(d)) for d, n in sent.items()}


def pending_run_dirs(root: str | os.PathLike) -> list[Path]:
    """Run directories under ``root`` (itself included) that hold a pending MLflow record."""
    root = Path(root)
    return sorted(p.parent for p in root.rglob(PENDING))
