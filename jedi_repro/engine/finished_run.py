"""A finished run is never overwritten by accident.

A work dir holding ``metrics.json`` holds a finished run (trained, or adopted by reuse). ``jedi train``
into it is refused unless ``--overwrite`` (which removes the old run's files once the new config has
passed every check, so no old best checkpoint is left beside the new metrics); ``--resume`` of it says
the run is finished and opens no second MLflow run (unless its MLflow run was never closed: a process
killed after writing metrics.json, which ``--resume`` finishes).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from jedi_repro.errors import JediError


def finished_metrics(work_dir) -> dict | None:
    """The ``metrics.json`` of the finished run in ``work_dir``, or None."""
    path = Path(work_dir) / 'metrics.json'
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise JediError(f'{path} exists but is not readable JSON: the work dir holds a damaged run; choose '
                        'another --work-dir, or pass --overwrite to replace it') from None


def _tracking_open(work_dir) -> bool:
    """Whether the work dir's MLflow run (``mlflow_run.json``) is known and not yet FINISHED: the process
    was killed after metrics.json and before the run was closed, so ``--resume`` still has work to do."""
    from jedi_repro.tracking.runs import RUN_RECORD
    record = Path(work_dir) / RUN_RECORD
    if not record.is_file():
        return False
    try:
        rec = json.loads(record.read_text())
        from mlflow.tracking import MlflowClient

        from jedi_repro.tracking.offline import probe, quick_http
        if probe(rec['tracking_uri']) is not None:  # a server that does not answer: seconds, not minutes
            return False
        with quick_http():
            return MlflowClient(rec['tracking_uri']).get_run(rec['run_id']).info.status != 'FINISHED'
    except Exception:  # noqa: BLE001 - unknown run or unreachable store: nothing this run could close
        return False


def guard_work_dir(work_dir, resume: bool = False, overwrite: bool = False) -> dict | None:
    """Refuse a new run into a finished run's work dir; return the finished metrics for ``--resume``.

    Returns None when the run may go ahead (no finished run there, or ``overwrite``).
    """
    if resume and overwrite:
        raise JediError('--resume and --overwrite exclude each other (continue the run in the work dir, or '
                        'replace it)')
    done = finished_metrics(work_dir)
    if done is None or overwrite:
        return None
    if resume:
        return None if _tracking_open(work_dir) else done
    raise JediError(f'work dir {work_dir} holds a finished run (metrics.json): a new run would overwrite its '
                    'record and leave its checkpoints beside new metrics. Choose another --work-dir, or pass '
                    '--overwrite to replace it')


def clear_finished(work_dir) -> None:
    """Remove a finished run's files (``--overwrite``, after the new config passed its checks)."""
    if finished_metrics(work_dir) is not None:
        shutil.rmtree(work_dir)
