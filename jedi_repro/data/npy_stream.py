"""Stream rows into a ``.npy`` file and drop memory-mapped pages once read.

Both keep a process's resident memory independent of a feature store's size:

* :func:`write_npy_stream` writes an ``[N, D]`` array chunk by chunk (header first, then the rows), hashing
  the bytes as they go, so a block of many GB is never held in memory nor read back to be hashed.
* :func:`drop_pages` tells the kernel that the pages of a read-only memory map may leave this process's
  page tables (``MADV_DONTNEED``). The data stays in the page cache (a later read is a minor fault, not
  disk I/O), but the pages stop counting in the process's RSS: without it, every row a run ever touched
  through a map counts as resident until the map is closed, so RSS grows to the store's size.
"""
from __future__ import annotations

import hashlib
import mmap
from collections.abc import Iterable
from pathlib import Path

import numpy as np


def write_npy_stream(path, shape: tuple[int, ...], dtype, chunks: Iterable[np.ndarray],
                     check_finite: bool = True, what: str = '') -> str:
    """Write ``chunks`` (row blocks, in order) as one C-ordered ``.npy`` array of ``shape``; return sha256.

    The hash is that of the whole file (what :func:`jedi_repro.data.files.sha256_file` computes).

    Raises:
        ValueError: a chunk of the wrong width, NaN/Inf values (``check_finite``), or a row count that does
            not add up to ``shape[0]`` (``what`` names the block in the message).
    """
    dtype = np.dtype(dtype)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    rows = 0

    class _Hashing:  # numpy writes the header through .write; hash it like the rows
        def __init__(self, f):
            self.f = f

        def write(self, b):
            digest.update(b)
            return self.f.write(b)

    with open(path, 'wb') as f:
        out = _Hashing(f)
        header = {'descr': np.lib.format.dtype_to_descr(dtype), 'fortran_order': False, 'shape': tuple(shape)}
        np.lib.format.write_array_header_1_0(out, header)
        for chunk in chunks:
            chunk = np.ascontiguousarray(chunk, dtype=dtype)
            if chunk.shape[1:] != tuple(shape[1:]):
                raise ValueError(f'{what}: chunk of shape {list(chunk.shape)}, expected rows of '
                                 f'{list(shape[1:])}')
            if check_finite and chunk.dtype.kind == 'f' and not all_finite(chunk):
                raise ValueError(f'{what}: features contain NaN or Inf values')
            rows += chunk.shape[0]
            if rows > shape[0]:
                raise ValueError(f'{what}: more than the declared {shape[0]} rows')
            out.write(chunk.data.cast('B'))
    if rows != shape[0]:
        raise ValueError(f'{what}: {rows} rows written, {shape[0]} declared')
    return digest.hexdigest()


def all_finite(x: np.ndarray) -> bool:
    """Whether ``x`` holds no NaN or Inf, several times faster than ``np.isfinite(x).all()`` on features.

    float16: NaN and Inf are the values whose exponent bits are all set (a bit test on the raw uint16
    words, no conversion to float32). float32: a float64 sum of finite float32 values cannot overflow, so
    it is finite exactly when every value is.
    """
    x = np.asarray(x)
    if x.size == 0:
        return True
    if x.dtype == np.float16:
        exp = np.bitwise_and(np.ascontiguousarray(x).view(np.uint16), 0x7C00)
        return int(exp.max()) != 0x7C00
    if x.dtype == np.float32:
        return bool(np.isfinite(x.sum(dtype=np.float64)))
    return bool(np.isfinite(x).all())


def drop_pages(arr) -> bool:
    """``MADV_DONTNEED`` over the whole memory map behind ``arr`` (a read-only ``np.memmap``).

    Returns False (and does nothing) when ``arr`` is not backed by a map or the platform lacks madvise.
    Only for maps opened read-only: there the pages are clean copies of the file.
    """
    mm = getattr(arr, '_mmap', None)
    if mm is None or not hasattr(mm, 'madvise') or not hasattr(mmap, 'MADV_DONTNEED'):
        return False
    try:
        mm.madvise(mmap.MADV_DONTNEED)
    except (OSError, ValueError):  # closed map or a platform refusal: nothing to release
        return False
    return True


FAULT_AROUND = 64 << 10  # Linux maps up to this much around a faulting page that is in the page cache


def mapped_bytes(rows: int, row_bytes: int) -> int:
    """Upper bound of the bytes a gather of ``rows`` rows maps into the process (fault-around included:
    reading one 4 KB row maps up to 64 KB of its neighbours)."""
    return int(rows) * (int(row_bytes) + FAULT_AROUND)


class PageBudget:
    """Drop the pages of a set of read-only maps after every ``budget_bytes`` mapped through them.

    Args:
        budget_bytes: bytes mapped (as the caller counts them, e.g. :func:`mapped_bytes`) between drops.
    """

    def __init__(self, budget_bytes: int = 64 << 20):
        self.budget = int(budget_bytes)
        self.used = 0

    def charge(self, nbytes: int, maps) -> bool:
        """Count ``nbytes`` mapped; past the budget, drop the pages of every array in ``maps``."""
        self.used += int(nbytes)
        if self.used < self.budget:
            return False
        for a in maps:
            drop_pages(a)
        self.used = 0
        return True
