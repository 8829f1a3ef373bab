"""Verified feature stores: every block checked against the manifest's sha256, once per change of the file.

A run trusts a store only after :func:`verify_store` found every block's bytes equal to what the manifest
records; the run's ``features_hash``, its reuse key and its MLflow dataset digest (all the manifest's hash)
therefore describe the bytes it read. Hashing a store of many GB on every run would be slow, so each
verified block leaves a *stamp*: what changes when the file changes (size, ``mtime_ns``, ``ctime_ns``,
inode, device) together with the sha256 the manifest expects. A later run re-hashes only the blocks whose
stamp no longer matches (or whose expected sha256 changed: a new manifest); a block that fails stops the
run with a :class:`FeatureStoreError` naming it. ``ctime`` cannot be set from user space, so restoring an
old ``mtime`` with ``touch -d`` after an edit still shows as a change.

Where stamps live: one JSON file per store under the workspace root,
``$JEDI_HOME/stamps/<sha256 of the resolved store path>.json`` (``stamp_dir`` overrides the directory).
The store itself is never written, so a read-only or shared store works, and a store moved or copied
elsewhere is verified afresh there. An unwritable stamp directory costs time (every run re-hashes), never
correctness.

Racy stamps (as git's index handles them): a block whose ``mtime``/``ctime`` lies within
``RACY_WINDOW_S`` of the moment it was hashed is verified but not stamped, because a write in the same
timestamp tick would leave its stat unchanged; the next run hashes it again.

The value scan (NaN/Inf, label ranges) of :meth:`FeatureStore.open` rides on the same stamps: a stamped
block whose values were scanned under that stamp is not scanned again.

API (small on purpose; other modules and the paper-scale store writer rely on it)::

    result = verify_store(store, stamp_dir=None)   # raises FeatureStoreError on a changed block
    result.hashed, result.stamped                  # block lists: re-hashed now / trusted by stamp
    mark_values_checked(store, rels, stamp_dir=None)
    values_checked(store, stamp_dir=None) -> set   # blocks whose values need no scan

``FeatureStore.open(path, verify=True)`` and ``FeatureStore.verify(stamp_dir=...)`` call these.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from jedi_repro.atomic import write_json_atomic
from jedi_repro.data.files import sha256_file
from jedi_repro.errors import JediError

STAMP_DIR = 'stamps'
STAMP_VERSION = 1
RACY_WINDOW_S = 2.0

log = logging.getLogger(__name__)


@dataclass
class VerifyResult:
    """What :func:`verify_store` did: blocks re-hashed now and blocks trusted by their stamp."""
    hashed: list[str] = field(default_factory=list)
    stamped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def stamp_file(store_path, stamp_dir=None) -> Path:
    """The stamp file of the store at ``store_path`` (see the module docstring)."""
    from jedi_repro import workspace
    key = hashlib.sha256(str(Path(store_path).resolve()).encode()).hexdigest()[:32]
    base = Path(stamp_dir) if stamp_dir is not None else workspace.path(STAMP_DIR)
    return base / f'{key}.json'


def _stat_key(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _read(sfile: Path, store_path: Path) -> dict:
    try:
        data = json.loads(sfile.read_text())
    except (OSError, ValueError):
        return {}
    if data.get('version') != STAMP_VERSION or data.get('store') != str(store_path):
        return {}
    blocks = data.get('blocks')
    return blocks if isinstance(blocks, dict) else {}


def _write(sfile: Path, store_path: Path, blocks: dict) -> None:
    """Atomic write; a failure only means the next run hashes again."""
    try:
        write_json_atomic(sfile, {'version': STAMP_VERSION, 'store': str(store_path), 'blocks': blocks},
                          indent=None)
    except (OSError, JediError) as exc:  # a full or read-only disk: no temporary file is left
        log.info('could not write the verification stamps %s (%s): the next run verifies the store '
                    'again', sfile, exc)


def _valid(entry, key: list[int], sha: str) -> bool:
    return isinstance(entry, dict) and entry.get('stat') == key and entry.get('sha256') == sha


def verify_store(store, stamp_dir=None) -> VerifyResult:
    """Check every block of ``store`` (a :class:`FeatureStore`) against the manifest's sha256.

    Blocks whose stamp matches are trusted; the others are hashed and, when they match, stamped.

    Raises:
        FeatureStoreError: a block is missing or its bytes differ from the manifest (named).
    """
    from jedi_repro.data.feature_store import FeatureStoreError
    t0 = time.perf_counter()
    root = Path(store.path).resolve()
    sfile = stamp_file(root, stamp_dir)
    old = _read(sfile, root)
    new, result = {}, VerifyResult()
    for rel, rec in sorted(store.manifest['arrays'].items()):
        f = root / rel
        try:
            key = _stat_key(f)
        except OSError:
            raise FeatureStoreError(f'missing block {rel} in feature store {root}') from None
        if _valid(old.get(rel), key, rec['sha256']):
            new[rel] = old[rel]
            result.stamped.append(rel)
            continue
        sha = sha256_file(f)
        after = _stat_key(f)
        if sha != rec['sha256'] or after != key:
            what = ('changed while it was being verified' if after != key else
                    'sha256 differs from the manifest: the file changed after the store was written')
            raise FeatureStoreError(
                f'block {rel} of feature store {root}: {what}. A run would train on bytes its record does '
                f'not describe, so it stops here; rewrite the store (e.g. `jedi features import-npz '
                f'--overwrite`) or restore the block (`jedi features info {root} --verify` checks it)')
        result.hashed.append(rel)
        racy = time.time() - max(key[1], key[2]) / 1e9 < RACY_WINDOW_S
        if not racy:
            new[rel] = {'stat': key, 'sha256': sha, 'values': False}
    result.seconds = time.perf_counter() - t0
    if new != old:
        _write(sfile, root, new)
    return result


def values_checked(store, stamp_dir=None) -> set[str]:
    """Blocks whose values were scanned under their current (still valid) stamp."""
    root = Path(store.path).resolve()
    old = _read(stamp_file(root, stamp_dir), root)
    out = set()
    for rel, rec in store.manifest['arrays'].items():
        entry = old.get(rel)
        try:
            ok = entry is not None and entry.get('values') and _valid(entry, _stat_key(root / rel),
                                                                       rec['sha256'])
        except OSError:
            ok = False
        if ok:
            out.add(rel)
    return out


def mark_values_checked(store, rels, stamp_dir=None) -> None:
    """Record that the values of ``rels`` were scanned (only blocks with a valid stamp are marked)."""
    root = Path(store.path).resolve()
    sfile = stamp_file(root, stamp_dir)
    old = _read(sfile, root)
    changed = False
    for rel in rels:
        entry, rec = old.get(rel), store.manifest['arrays'].get(rel)
        if entry is None or rec is None or entry.get('values'):
            continue
        try:
            if _valid(entry, _stat_key(root / rel), rec['sha256']):
                entry['values'] = changed = True
        except OSError:
            continue
    if changed:
        _write(sfile, root, old)
