"""Writes that either complete or leave the previous state, and one message for a disk that refuses them.

Every file the project writes goes through a temporary sibling and ``os.replace`` (:func:`atomic_path`):
a full disk, a quota or a read-only mount leaves the old file (or none) and no temporary file behind.
:func:`disk_error` turns such an ``OSError`` into a one-paragraph :class:`~jedi_repro.errors.JediError`
naming the path, the bytes needed where known and the cause; ``jedi`` prints it without a traceback
(``jedi_repro/cli/__init__.py`` turns any disk ``OSError`` that escapes into the same paragraph).
"""
from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from jedi_repro.errors import JediError

#: errno -> what the message says (the cause a user acts on)
DISK_ERRNOS = {errno.ENOSPC: 'no space left on the device', errno.EDQUOT: 'disk quota exceeded',
               errno.EROFS: 'read-only file system', errno.EACCES: 'permission denied',
               errno.EPERM: 'operation not permitted'}


def is_disk_error(exc: BaseException) -> bool:
    """Whether ``exc`` is an ``OSError`` a user fixes on the disk (full, quota, read-only, permissions)."""
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS


#: a write that failed with a disk this close to full is taken for a full disk (torch.save then raises a
#: RuntimeError such as ``unexpected pos 576 vs 534`` instead of ENOSPC)
FULL_BELOW_BYTES = 1 << 20


def as_disk_error(exc: BaseException, path: str | os.PathLike) -> OSError | None:
    """The disk ``OSError`` behind a failed write of ``path``, or None when the disk is not the cause.

    Call it before removing the partial file (its bytes count against the free space)."""
    if is_disk_error(exc):
        return exc
    if isinstance(exc, RuntimeError):
        free = free_bytes(path)
        if free is not None and free < FULL_BELOW_BYTES:
            return OSError(errno.ENOSPC, 'No space left on device', str(path))
    return None


def disk_error(exc: OSError, path: str | os.PathLike | None = None, needed: int | None = None) -> JediError:
    """A one-paragraph error for a write the disk refused: path, cause, bytes needed and free, what to do."""
    where = Path(path or exc.filename or '.')
    cause = DISK_ERRNOS.get(exc.errno, exc.strerror or str(exc))
    sizes = []
    if needed:
        sizes.append(f'{needed} bytes needed')
    free = free_bytes(where)
    if free is not None and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        sizes.append(f'{free} bytes free')
    size = f' ({", ".join(sizes)})' if sizes else ''
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = ('free space there (`df -h` shows the disk) or point JEDI_HOME / --work-dir at a larger disk, '
               'then run the same command again')
    else:
        fix = 'make it writable or point JEDI_HOME / --work-dir at a writable directory, then run it again'
    return JediError(f'cannot write {where}: {cause}{size}. Nothing half-written was kept: what was written '
                     f'before is unchanged. To continue, {fix} (`jedi train ... --resume` continues a run '
                     'from its last epoch)')


def free_bytes(path: str | os.PathLike) -> int | None:
    """Free bytes for an unprivileged writer on the disk holding ``path`` (its nearest existing parent)."""
    p = existing_parent(path)
    try:
        st = os.statvfs(p)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def existing_parent(path: str | os.PathLike) -> Path:
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_free_space(path: str | os.PathLike, needed: int, what: str) -> None:
    """Refuse (``JediError``) before a write of about ``needed`` bytes that the disk cannot hold."""
    free = free_bytes(path)
    if free is not None and needed > free:
        raise JediError(f'{what}: about {needed} bytes are needed under {existing_parent(path)} and {free} '
                        'bytes are free (no space left for it). Free space there or point JEDI_HOME / '
                        '--work-dir at a larger disk; nothing was written')


def check_writable(path: str | os.PathLike, what: str) -> None:
    """Refuse (``JediError``) a directory the process cannot create files in, by creating one.

    ``os.access`` is not enough: root passes it on a read-only mount's directory only by mode bits. The
    directory itself need not exist yet; its nearest existing parent is probed.
    """
    if Path(path).exists() and not Path(path).is_dir():
        return  # not a directory at all: the caller's own check says so
    probe_dir = existing_parent(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix='.jedi-write-check-', dir=probe_dir)
    except OSError as exc:
        cause = DISK_ERRNOS.get(exc.errno, exc.strerror or str(exc))
        raise JediError(f'{what} {path} cannot be written ({cause} at {probe_dir}); nothing was started. '
                        'Make it writable or choose another directory (JEDI_HOME for the workspace, '
                        '--work-dir for a run)') from None
    os.close(fd)
    os.unlink(tmp)


@functools.cache
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, needed: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on any failure it is removed.

    A disk error (full, quota, read-only) becomes :func:`disk_error` naming ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())  # as open() would create it (mkstemp makes 0600)
    except OSError as exc:
        if is_disk_error(exc):
            raise disk_error(exc, path, needed) from None
        raise
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        cause = as_disk_error(exc, path)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if cause is not None:
            raise disk_error(cause, path, needed) from None
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path, needed=len(data)) as tmp, open(tmp, 'wb') as f:
        f.write(data)
        f.flush()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode())


def write_json_atomic(path: str | os.PathLike, obj, indent: int | None = 1) -> None:
    """``obj`` as JSON (sorted keys), written atomically."""
    write_text_atomic(path, json.dumps(obj, indent=indent, sort_keys=True, default=str))

