"""What verifying a feature store costs a run: first verification against the stamped re-check (issue 20).

Writes a synthetic store (``--mib`` of float16 features: 4 experts x 4 datasets, 2048-d) unless one is
given, then times, side by side in one process:

* ``open_unverified``: ``FeatureStore.open(check_values=True)``: layout + NaN/label scan, no hashes (what a
  run did before blocks were verified);
* ``first_verify``: ``FeatureStore.open(verify=True)`` with no stamps: sha256 of every block + value scan;
  what the first run on a store pays;
* ``stamped_open``: the same call again: a stat per block, no hash and no value scan (every later run);
* ``stamped_verify``: ``store.verify()`` alone (what ``train()`` repeats before it writes metrics.json).

The store was just written (or read), so its pages are likely in the page cache: ``first_verify`` is then
bound by sha256 throughput, not by the disk; a cold cache adds the disk's read time. One JSON line.

Usage:
    python benchmarks/bench_store_verify.py [--mib 512] [--store DIR] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from jedi_repro.data.feature_store import FeatureStore, FeatureStoreWriter


def write_store(path: Path, mib: int) -> None:
    n_ds, dim = 4, 2048
    rows = max(16, int(mib * 2**20 / (2 * dim * n_ds * n_ds)))  # float16 rows per dataset, all splits
    n = {'train': rows * 3 // 4, 'val': rows // 8, 'test': rows - rows * 3 // 4 - rows // 8}
    rng = np.random.default_rng(0)
    with FeatureStoreWriter(path, overwrite=True) as w:
        for d in range(n_ds):
            w.add_dataset(f'ds{d}', [f'c{i}' for i in range(50)])
            for split, k in n.items():
                w.add_labels(f'ds{d}', split, rng.integers(0, 50, k))
        for e in range(n_ds):
            w.add_expert(f'e{e}', f'ds{e}', dim, rng.standard_normal((50, dim), dtype=np.float32) * 0.01,
                         np.zeros(50, np.float32))
            for d in range(n_ds):
                for split, k in n.items():
                    w.add_features(f'e{e}', f'ds{d}', split,
                                   rng.standard_normal((k, dim), dtype=np.float32).astype(np.float16))


def timed(fn, *args, **kwargs) -> float:
    t0 = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--mib', type=int, default=512, help='size of the synthetic store (MiB of features)')
    p.add_argument('--store', type=Path, help='time this store instead of writing one')
    p.add_argument('--repeats', type=int, default=3)
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix='bench_store_verify_'))
    try:
        store = args.store
        if store is None:
            store = tmp / 'store'
            write_store(store, args.mib)
            time.sleep(2.1)  # outside store_stamps.RACY_WINDOW_S, so the blocks can be stamped
        size = sum(f.stat().st_size for f in Path(store).rglob('*.npy'))
        n_blocks = len(list(Path(store).rglob('*.npy')))
        rows = {k: [] for k in ('open_unverified', 'first_verify', 'stamped_open', 'stamped_verify')}
        for r in range(args.repeats):
            stamps = tmp / f'stamps{r}'
            rows['open_unverified'].append(timed(FeatureStore.open, store))
            rows['first_verify'].append(timed(FeatureStore.open, store, verify=True, stamp_dir=stamps))
            s = FeatureStore.open(store, check_values=False)
            rows['stamped_open'].append(timed(FeatureStore.open, store, verify=True, stamp_dir=stamps))
            res = []
            rows['stamped_verify'].append(timed(lambda s=s, res=res, stamps=stamps:
                                                res.append(s.verify(stamp_dir=stamps))))
            assert res[0].hashed == [] and len(res[0].stamped) == len(s.manifest['arrays']), res[0]
        best = {k: min(v) for k, v in rows.items()}
        print(json.dumps(dict(
            store_mib=round(size / 2**20, 1), blocks=n_blocks, repeats=args.repeats,
            best_s={k: round(v, 4) for k, v in best.items()},
            all_s={k: [round(x, 4) for x in v] for k, v in rows.items()},
            first_verify_mib_per_s=round(size / 2**20 / best['first_verify'], 1),
            first_over_stamped=round(best['first_verify'] / best['stamped_open'], 1),
            first_over_unverified=round(best['first_verify'] / best['open_unverified'], 2),
            stamped_over_unverified=round(best['stamped_open'] / best['open_unverified'], 3),
            machine=dict(cpu=_cpu(), cores=os.cpu_count(), load_avg=os.getloadavg(),
                         python=platform.python_version(), numpy=np.__version__))))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _cpu() -> str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == '__main__':
    raise SystemExit(main())
