"""Optuna storage, samplers and pruners of a study.

Default storage: a ``JournalStorage`` file under ``workspace.journal_path(study)`` (file locks, safe for
parallel worker processes on one machine). ``--storage`` takes an RDB URL (``postgresql://...``; SQLite
works for one worker but locks under several) or a journal file path.

A server RDB (PostgreSQL, MySQL) is opened with Optuna's heartbeat (``heartbeat_interval``,
``grace_period``: a trial whose worker stopped beating is stale, see ``recovery``), and its schema is
created by one process only: ``jedi study run`` (``create=True``) before any worker, while workers open
the storage with ``skip_table_creation`` (many processes creating it at once race: Optuna issue 1092).
"""
from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

from jedi_repro import workspace
from jedi_repro.errors import JediError
from jedi_repro.studies.spec import StudySpec

RDB_SCHEMES = ('sqlite:', 'postgresql', 'mysql', 'oracle', 'mssql')


def storage_url(spec: StudySpec, url: str | None = None) -> str:
    """``url`` if given, else the study's default journal file."""
    return url or str(workspace.journal_path(spec.name))


def is_server_rdb(url: str) -> bool:
    """A database server shared by machines (not SQLite, not a journal file)."""
    return url.startswith(RDB_SCHEMES) and not url.startswith('sqlite:')


MLFLOW_TABLES = {'experiments', 'runs', 'metrics', 'params', 'registered_models'}
OPTUNA_TABLES = {'studies', 'trials', 'version_info'}


def check_storage(url: str) -> None:
    """Before anything is written: a journal path that can be a file, or a database that holds no other
    application's schema (MLflow's tables and alembic stamp would make Optuna fail on the version row)."""
    if not url.startswith(RDB_SCHEMES):
        path = Path(url.removeprefix('journal://')).expanduser()
        if path.is_dir():
            raise JediError(f'--storage {path} is a directory; give a journal file path (e.g. '
                            f'{path}/study.journal) or a database URL (postgresql://...)')
        return
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(url)
    except Exception as exc:  # noqa: BLE001 - bad URL, driver missing
        raise JediError(f'--storage {url}: {type(exc).__name__}: {exc}') from None
    try:
        tables = set(sqlalchemy.inspect(engine).get_table_names())
    except Exception:  # noqa: BLE001 - server down etc.: opening the storage reports it
        return
    finally:
        engine.dispose()
    foreign = sorted(tables & MLFLOW_TABLES)
    if foreign and not OPTUNA_TABLES <= tables:
        raise JediError(f'--storage {url} holds another application\'s schema: MLflow\'s tables '
                        f'({", ".join(foreign)}) and its alembic_version stamp, which Optuna would read as '
                        'its own. Give the study a database of its own (e.g. `createdb jedi_optuna`; the '
                        'tracking server keeps its database), as in the README\'s PostgreSQL recipe')


def check_schema_ready(url: str) -> None:
    """Refuse (``JediError``) an RDB whose Optuna schema is not complete, reading only.

    ``RDBStorage(skip_table_creation=True)`` still writes where the schema is incomplete (the version row,
    alembic's stamp), so a worker opening it while ``jedi study run`` creates the schema races it
    (PostgreSQL: duplicate key in ``pg_type``). Alembic's stamp is the last step of Optuna's schema
    creation: once its row exists, opening the storage writes nothing.
    """
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(url)
    except Exception as exc:  # noqa: BLE001 - bad URL, driver missing
        raise JediError(f'--storage {url}: {type(exc).__name__}: {exc}') from exc
    try:
        with engine.connect() as conn:
            row = conn.execute(sqlalchemy.text('SELECT version_num FROM alembic_version')).first()
    except Exception as exc:  # noqa: BLE001 - server down, no such table yet
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ''
        raise JediError(f'--storage {url}: no complete Optuna schema yet (`jedi study run SPEC --storage '
                        f'URL` creates it once): {type(exc).__name__}: {first}') from None
    finally:
        engine.dispose()
    if row is None:
        raise JediError(f'--storage {url}: the Optuna schema is being created (`jedi study run`); try again')


def open_storage(url: str, create_schema: bool = True):
    """An Optuna storage for ``url``: RDB for database URLs, else a journal file at that path.

    Args:
        url: RDB URL or journal path.
        create_schema: create the RDB tables if missing (only the one process that prepares a study).
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    from jedi_repro.studies import recovery

    if url.startswith(RDB_SCHEMES):
        if not create_schema:
            check_schema_ready(url)
        kwargs: dict = {'skip_table_creation': not create_schema}
        if is_server_rdb(url):
            kwargs.update(heartbeat_interval=int(recovery.HEARTBEAT_S), grace_period=int(recovery.GRACE_S),
                          engine_kwargs={'pool_pre_ping': True})  # survive server-side idle disconnects
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', optuna.exceptions.ExperimentalWarning)
                if is_server_rdb(url):  # a lost connection is waited out (studies/storage_retry.py)
                    from jedi_repro.studies.storage_retry import retrying_rdb_storage_class
                    return retrying_rdb_storage_class()(url, **kwargs)
                return optuna.storages.RDBStorage(url, **kwargs)
        except Exception as exc:  # noqa: BLE001 - driver missing, server down, bad URL, no schema yet
            what = '' if create_schema else ' (its schema is created by `jedi study run SPEC --storage URL`)'
            raise JediError(f'--storage {url}: cannot open the Optuna RDB storage{what}: '
                            f'{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ""}') from exc
    path = Path(url.removeprefix('journal://')).expanduser()
    check_storage(url)
    from jedi_repro.studies.journal_repair import repair_journal
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        repair_journal(path)  # a torn last record (full disk) is set aside, not fatal
        return JournalStorage(JournalFileBackend(str(path)))
    except OSError as exc:
        raise JediError(f'study storage {path} cannot be written ({exc.strerror or exc}); set JEDI_HOME to a '
                        'writable directory or give --storage elsewhere') from None


def space_fingerprint(spec: StudySpec) -> str:
    """A hash of what makes two runs of a study comparable: space, seeds, objectives, sampler type."""
    blob = json.dumps({'space': {k: repr(p) for k, p in spec.space.items()}, 'seeds': spec.seeds,
                       'objectives': [(o.metric, o.direction) for o in spec.objectives],
                       'sampler': spec.sampler['type']}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_sampler(spec: StudySpec, worker_index: int = 0):
    """The sampler of one worker. Grid points are enqueued by the runner, so grid studies never sample.

    Each worker gets ``seed + worker_index`` so seeded parallel workers do not propose the same points.
    """
    import optuna

    seed = spec.sampler.get('seed')
    seed = None if seed is None else seed + worker_index
    kind = spec.sampler['type']
    if kind == 'tpe':
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def build_pruner(spec: StudySpec):
    import optuna

    if spec.pruner['type'] == 'median':
        kwargs = {k: spec.pruner[k] for k in ('n_startup_trials', 'n_warmup_steps', 'interval_steps')
                  if k in spec.pruner}
        return optuna.pruners.MedianPruner(**kwargs)
    return optuna.pruners.NopPruner()


def load_study(spec: StudySpec, url: str, worker_index: int = 0, create: bool = False):
    """Open (or with ``create`` create) the Optuna study named after the spec.

    Raises:
        JediError: the study does not exist, or it was created from a spec with another space.
    """
    import optuna

    storage = open_storage(url, create_schema=create)
    kwargs = dict(study_name=spec.name, storage=storage, sampler=build_sampler(spec, worker_index),
                  pruner=build_pruner(spec))
    if create:
        study = optuna.create_study(directions=spec.directions, load_if_exists=True, **kwargs)
    else:
        try:
            study = optuna.load_study(**kwargs)
        except KeyError as exc:
            raise JediError(f'study "{spec.name}" does not exist in storage {url}; '
                            f'run `jedi study run {spec.path}` first') from exc
    stored = [d.name.lower() for d in study.directions]
    if stored != spec.directions:
        raise JediError(f'study spec {spec.path}: field "objectives" directions {spec.directions} differ '
                        'from '
                        f'the stored study\'s {stored}; give the changed spec a new "name"')
    fp = study.user_attrs.get('jedi.spec_fingerprint')
    if fp is None and create:
        study.set_user_attr('jedi.spec_fingerprint', space_fingerprint(spec))
        # what the values are (optuna-dashboard shows these names): the validation metrics, never test
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([f'val/{o.metric}' for o in spec.objectives])
    elif fp is not None and fp != space_fingerprint(spec):
        raise JediError(f'study spec {spec.path}: "space", "seeds", "objectives" or "sampler" changed since '
                        f'study "{spec.name}" was created in {url}; give the changed spec a new "name"')
    return study
