"""The feature store: frozen expert features, labels and expert heads as memory-mappable ``.npy`` files.

Layout of a store directory (DESIGN.md, "Contracts")::

    manifest.json                             format, datasets, experts, and every array's shape/dtype/sha256
    features/{expert}/{dataset}/{split}.npy   [N, D_expert] float16 or float32
    labels/{dataset}/{split}.npy              int64 [N], or uint8 multi-hot [N, C] for multi-label datasets
    labeled_mask/{dataset}.npy                bool [N_train]: which train samples may use their label
    heads/{expert}/weight.npy, bias.npy       float32 [C_own, D_expert], [C_own]: the expert's own head

Every expert has features for every dataset and every split (the n x n blocks of the method). Splits are
``train`` and ``val`` (required) and ``test`` (optional). A store is written by :class:`FeatureStoreWriter`
into a temporary sibling directory, validated there, then moved into place with ``os.replace``: readers
never see a half-written store. :meth:`FeatureStore.open` validates the manifest against the arrays; the
values (NaN/Inf, label ranges) are checked in fixed-size chunks so opening a store of many GB stays
memory-bounded.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from jedi_repro.data.files import sha256_file
from jedi_repro.data.npy_stream import all_finite, drop_pages, write_npy_stream
from jedi_repro.errors import JediError

FORMAT = 'jedi-feature-store'
FORMAT_VERSION = 1
SPLITS = ('train', 'val', 'test')
REQUIRED_SPLITS = ('train', 'val')
METRICS = ('top1', 'mAP')
FEATURE_DTYPES = ('float16', 'float32')
_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.\-]*$')
_CHUNK_BYTES = 64 << 20  # value checks read at most this much at a time


class FeatureStoreError(JediError):
    """A feature store is missing, malformed or inconsistent; the message names the file or block."""


def _check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or '..' in name:
        raise FeatureStoreError(f'{kind} name {name!r} is not allowed: use letters, digits, _ . - '
                                '(it becomes a directory name in the store)')
    return name


def _iter_chunks(arr: np.ndarray):
    """Row chunks of ``arr`` of at most ``_CHUNK_BYTES`` each (memory-bounded scans of memmaps)."""
    n = arr.shape[0] if arr.ndim else 1
    row_bytes = max(1, arr.itemsize * int(np.prod(arr.shape[1:], dtype=np.int64)))
    step = max(1, _CHUNK_BYTES // row_bytes)
    for start in range(0, n, step):
        yield np.asarray(arr[start:start + step])


def feature_path(expert: str, dataset: str, split: str) -> str:
    return f'features/{expert}/{dataset}/{split}.npy'


def labels_path(dataset: str, split: str) -> str:
    return f'labels/{dataset}/{split}.npy'


def mask_path(dataset: str) -> str:
    return f'labeled_mask/{dataset}.npy'


def head_paths(expert: str) -> tuple[str, str]:
    return f'heads/{expert}/weight.npy', f'heads/{expert}/bias.npy'


class FeatureStore:
    """Read access to a validated feature store (see the module docstring for the layout).

    Use :meth:`open`; arrays are returned as read-only memory maps, so nothing is loaded until indexed.
    """

    def __init__(self, path: Path, manifest: dict):
        self.path = Path(path)
        self.manifest = manifest
        self._datasets = {d['name']: d for d in manifest['datasets']}
        self._experts = {e['name']: e for e in manifest['experts']}
        self._cache: dict[str, np.ndarray] = {}

    # ---------------------------------------------------------------- opening and validation
    @classmethod
    def open(cls, path, check_values: bool = True, verify_hashes: bool = False, verify: bool = False,
             stamp_dir=None) -> FeatureStore:
        """Open and validate a store.

        Args:
            path: the store directory.
            check_values: scan features for NaN/Inf and labels for out-of-range values (chunked); with
                ``verify``, blocks already scanned under a valid stamp are not scanned again.
            verify_hashes: recompute every array's sha256 and compare with the manifest (no stamps).
            verify: verify every block against the manifest, re-hashing only blocks whose stamp changed
                (:mod:`jedi_repro.data.store_stamps`); what a run does before it trusts a store.
            stamp_dir: where the stamps live (default ``$JEDI_HOME/stamps``).

        Raises:
            FeatureStoreError: naming the manifest field, block or file at fault.
        """
        path = Path(path)
        mpath = path / 'manifest.json'
        if not path.is_dir():
            raise FeatureStoreError(f'feature store {path} does not exist or is not a directory')
        if not mpath.is_file():
            raise FeatureStoreError(f'{mpath} is missing: {path} is not a feature store '
                                    '(create one with `jedi features import-npz`)')
        try:
            manifest = json.loads(mpath.read_text())
        except (OSError, ValueError) as exc:
            raise FeatureStoreError(f'{mpath} is not valid JSON: {exc}') from None
        store = cls(path, _validate_manifest(manifest, mpath))
        skip = set()
        if verify:
            store.validate(check_values=False)  # layout first: a missing block is named as such
            store.verify(stamp_dir=stamp_dir)
            if check_values:
                from jedi_repro.data.store_stamps import values_checked
                skip = values_checked(store, stamp_dir)
        store.validate(check_values=check_values, verify_hashes=verify_hashes, skip_values=skip)
        if check_values:
            store.release()
            if verify:
                from jedi_repro.data.store_stamps import mark_values_checked
                mark_values_checked(store, list(store.manifest['arrays']), stamp_dir)
        return store

    def verify(self, stamp_dir=None):
        """Verify every block against the manifest's sha256, re-hashing only blocks whose stamp (size,
        mtime, ctime, inode, device) changed since they were last verified.

        Args:
            stamp_dir: the directory of the stamp files (default ``$JEDI_HOME/stamps``; one file per
                store, named by the hash of the store's resolved path; the store is never written).

        Returns:
            :class:`jedi_repro.data.store_stamps.VerifyResult` (``hashed``, ``stamped``, ``seconds``).

        Raises:
            FeatureStoreError: naming the block whose bytes differ from the manifest.
        """
        from jedi_repro.data.store_stamps import verify_store
        return verify_store(self, stamp_dir)

    def validate(self, check_values: bool = True, verify_hashes: bool = False,
                 skip_values=frozenset()) -> None:
        """Check every block against the manifest (see :meth:`open`); ``skip_values``: blocks whose
        values need no scan (already scanned under a valid stamp)."""
        arrays = self.manifest['arrays']
        for rel in self._expected_arrays():
            if rel not in arrays:
                raise FeatureStoreError(f'{self.path}/manifest.json: block {rel} is not listed in "arrays"')
            f = self.path / rel
            if not f.is_file():
                raise FeatureStoreError(f'missing block {rel} in feature store {self.path}')
            arr = self._load(rel)
            rec = arrays[rel]
            if list(arr.shape) != list(rec['shape']) or str(arr.dtype) != rec['dtype']:
                raise FeatureStoreError(
                    f'block {rel} in {self.path}: file holds {arr.dtype}{list(arr.shape)}, manifest says '
                    f'{rec["dtype"]}{rec["shape"]}')
            if verify_hashes and sha256_file(f) != rec['sha256']:
                raise FeatureStoreError(f'block {rel} in {self.path}: sha256 differs from the manifest '
                                        '(file changed after the store was written)')
        for ds in self.dataset_names:
            d = self._datasets[ds]
            n_cls = len(d['classes'])
            for split, n in d['splits'].items():
                y = self._load(labels_path(ds, split))
                want = (n, n_cls) if d['multilabel'] else (n,)
                want_dtype = 'uint8' if d['multilabel'] else 'int64'
                if y.shape != want or str(y.dtype) != want_dtype:
                    raise FeatureStoreError(f'block {labels_path(ds, split)}: expected '
                                            f'{want_dtype}{list(want)}'
                                            f' for dataset {ds!r}, found {y.dtype}{list(y.shape)}')
                if check_values and labels_path(ds, split) not in skip_values:
                    _check_labels(y, n_cls, d['multilabel'], labels_path(ds, split))
                for ex in self.expert_names:
                    rel = feature_path(ex, ds, split)
                    x = self._load(rel)
                    dim = self._experts[ex]['dim']
                    if x.ndim != 2 or x.shape != (n, dim):
                        raise FeatureStoreError(f'block {rel}: expected [{n}, {dim}] (dataset {ds!r} split '
                                                f'{split!r} has {n} samples, expert {ex!r} dim {dim}), '
                                                f'found {list(x.shape)}')
                    if str(x.dtype) not in FEATURE_DTYPES:
                        raise FeatureStoreError(f'block {rel}: dtype {x.dtype} is not one of '
                                                f'{FEATURE_DTYPES}')
                    if check_values and rel not in skip_values:
                        for chunk in _iter_chunks(x):
                            if not all_finite(chunk):
                                raise FeatureStoreError(f'block {rel} contains NaN or Inf values')
                            drop_pages(x)  # keep the scan's RSS at one chunk, not the whole store
            m = self._load(mask_path(ds))
            if m.shape != (d['splits']['train'],) or m.dtype != np.bool_:
                raise FeatureStoreError(f'block {mask_path(ds)}: expected bool[{d["splits"]["train"]}], '
                                        f'found {m.dtype}{list(m.shape)}')
        for ex in self.expert_names:
            e = self._experts[ex]
            wrel, brel = head_paths(ex)
            w, b = self._load(wrel), self._load(brel)
            n_cls = len(self._datasets[e['dataset']]['classes'])
            if w.shape != (n_cls, e['dim']) or b.shape != (n_cls,):
                raise FeatureStoreError(
                    f'head of expert {ex!r} ({wrel}, {brel}): expected weight [{n_cls}, {e["dim"]}] and bias '
                    f'[{n_cls}] (classes of dataset {e["dataset"]!r}), found {list(w.shape)} and '
                    f'{list(b.shape)}')
            if (check_values and not {wrel, brel} <= set(skip_values)
                    and not (np.isfinite(w).all() and np.isfinite(b).all())):
                raise FeatureStoreError(f'head of expert {ex!r} ({wrel}) contains NaN or Inf values')

    def release(self) -> None:
        """Drop this store's memory maps (they reopen on next access); after a value scan this unmaps
        the pages it touched, so they stop counting in the process's RSS."""
        self._cache.clear()

    def _expected_arrays(self):
        for ds in self.dataset_names:
            for split in self._datasets[ds]['splits']:
                yield labels_path(ds, split)
                for ex in self.expert_names:
                    yield feature_path(ex, ds, split)
            yield mask_path(ds)
        for ex in self.expert_names:
            yield from head_paths(ex)

    def _load(self, rel: str) -> np.ndarray:
        if rel not in self._cache:
            f = self.path / rel
            try:
                self._cache[rel] = np.load(f, mmap_mode='r', allow_pickle=False)
            except FileNotFoundError:
                raise FeatureStoreError(f'missing block {rel} in feature store {self.path}') from None
            except (ValueError, OSError) as exc:
                raise FeatureStoreError(f'block {rel} in {self.path} is not a readable .npy file: {exc}') \
                    from None
        return self._cache[rel]

    # ---------------------------------------------------------------- read API (docs/ARCHITECTURE.md)
    @property
    def dataset_names(self) -> list[str]:
        return [d['name'] for d in self.manifest['datasets']]

    @property
    def expert_names(self) -> list[str]:
        return [e['name'] for e in self.manifest['experts']]

    def dataset(self, name: str) -> dict:
        """``dict(name, classes, metric, multilabel, splits={split: n})``."""
        if name not in self._datasets:
            raise FeatureStoreError(f'dataset {name!r} is not in feature store {self.path} '
                                    f'(it has {self.dataset_names})')
        return dict(self._datasets[name])

    def expert(self, name: str) -> dict:
        """``dict(name, dataset, dim, config, checkpoint_sha256)``."""
        if name not in self._experts:
            raise FeatureStoreError(f'expert {name!r} is not in feature store {self.path} '
                                    f'(it has {self.expert_names})')
        return dict(self._experts[name])

    def splits(self, dataset: str) -> list[str]:
        return list(self.dataset(dataset)['splits'])

    def features(self, expert: str, dataset: str, split: str) -> np.ndarray:
        """Read-only memory map ``[N, D_expert]`` (float16 or float32)."""
        self.expert(expert)
        self._check_split(dataset, split)
        return self._load(feature_path(expert, dataset, split))

    def labels(self, dataset: str, split: str) -> np.ndarray:
        """int64 ``[N]``, or uint8 multi-hot ``[N, C]`` for a multi-label dataset."""
        self._check_split(dataset, split)
        return self._load(labels_path(dataset, split))

    def labeled_mask(self, dataset: str) -> np.ndarray:
        """bool ``[N_train]``: train samples whose labels may be used."""
        self.dataset(dataset)
        return self._load(mask_path(dataset))

    def head(self, expert: str) -> tuple[np.ndarray, np.ndarray]:
        """The expert's own classifier ``(weight [C, D], bias [C])`` on its own dataset."""
        self.expert(expert)
        w, b = head_paths(expert)
        return self._load(w), self._load(b)

    def content_hash(self) -> str:
        """sha256 of the canonical manifest (which records every array's sha256)."""
        return hashlib.sha256(json.dumps(self.manifest, sort_keys=True).encode()).hexdigest()

    def _check_split(self, dataset: str, split: str) -> None:
        if split not in self.dataset(dataset)['splits']:
            raise FeatureStoreError(f'dataset {dataset!r} in {self.path} has no split {split!r} '
                                    f'(it has {list(self._datasets[dataset]["splits"])})')

    def summary(self) -> str:
        """A readable multi-line description (``jedi features info``)."""
        lines = [f'feature store {self.path}', f'  format {FORMAT} v{self.manifest["format_version"]}, '
                 f'content hash {self.content_hash()[:16]}']
        lines.append(f'  {len(self.dataset_names)} datasets:')
        for ds in self.dataset_names:
            d = self._datasets[ds]
            n_lab = int(np.count_nonzero(self.labeled_mask(ds)))
            sp = ', '.join(f'{s} {n}' for s, n in d['splits'].items())
            lines.append(f'    {ds}: {len(d["classes"])} classes, metric {d["metric"]}'
                         f'{", multi-label" if d["multilabel"] else ""}; {sp}; labelled train {n_lab}')
        lines.append(f'  {len(self.expert_names)} experts:')
        for ex in self.expert_names:
            e = self._experts[ex]
            dt = self.manifest['arrays'][feature_path(ex, e['dataset'], 'train')]['dtype']
            extra = f', config {e["config"]}' if e.get('config') else ''
            if e.get('provenance'):
                p = e['provenance']
                extra += f', from {p.get("package")}=={p.get("version")} (weights sha256 ' \
                         f'{str(p.get("weights_sha256"))[:16]})'
            lines.append(f'    {ex}: trained on {e["dataset"]}, dim {e["dim"]}, {dt}{extra}')
        size = sum(int(np.prod(a['shape'], dtype=np.int64)) * np.dtype(a['dtype']).itemsize
                   for a in self.manifest['arrays'].values())
        lines.append(f'  {len(self.manifest["arrays"])} arrays, {size / 2**20:.1f} MiB')
        return '\n'.join(lines)


def _check_labels(y: np.ndarray, n_cls: int, multilabel: bool, rel: str) -> None:
    for chunk in _iter_chunks(y):
        if chunk.size == 0:
            continue
        if multilabel:
            if chunk.max() > 1:
                raise FeatureStoreError(f'block {rel}: multi-hot labels must be 0/1, found '
                                        f'{int(chunk.max())}')
        else:
            lo, hi = int(chunk.min()), int(chunk.max())
            if lo < 0 or hi >= n_cls:
                bad = lo if lo < 0 else hi
                raise FeatureStoreError(f'block {rel}: label {bad} outside [0, {n_cls - 1}] '
                                        f'({n_cls} classes)')


def _validate_manifest(m, mpath: Path) -> dict:
    def fail(msg):
        raise FeatureStoreError(f'{mpath}: {msg}')

    if not isinstance(m, dict) or m.get('format') != FORMAT:
        fail(f'"format" must be {FORMAT!r}')
    if m.get('format_version') != FORMAT_VERSION:
        fail(f'"format_version" is {m.get("format_version")!r}; this jedi_repro reads version '
             f'{FORMAT_VERSION}')
    for key in ('datasets', 'experts', 'arrays'):
        if key not in m:
            fail(f'missing field {key!r}')
    if not m['datasets'] or not m['experts']:
        fail('needs at least one dataset and one expert')
    if not isinstance(m['arrays'], dict):
        fail('"arrays" must map each block path to its shape, dtype and sha256')
    for rel, rec in m['arrays'].items():
        if (not isinstance(rec, dict) or not isinstance(rec.get('sha256'), str)
                or not re.fullmatch(r'[0-9a-f]{64}', rec['sha256']) or not isinstance(rec.get('shape'), list)
                or not isinstance(rec.get('dtype'), str)):
            fail(f'"arrays" entry {rel!r} must be {{"shape": [...], "dtype": "...", "sha256": "<64 hex>"}}, '
                 f'got {rec!r}')
    names = set()
    for i, d in enumerate(m['datasets']):
        for key in ('name', 'classes', 'metric', 'multilabel', 'splits'):
            if key not in d:
                fail(f'datasets[{i}] lacks field {key!r}')
        _check_name('dataset', d['name'])
        if d['name'] in names:
            fail(f'dataset {d["name"]!r} listed twice')
        names.add(d['name'])
        if not d['classes']:
            fail(f'dataset {d["name"]!r} has no classes')
        if d['metric'] not in METRICS:
            fail(f'dataset {d["name"]!r}: metric {d["metric"]!r} not in {METRICS}')
        for s in REQUIRED_SPLITS:
            if s not in d['splits']:
                fail(f'dataset {d["name"]!r} lacks the {s!r} split')
        for s, n in d['splits'].items():
            if s not in SPLITS:
                fail(f'dataset {d["name"]!r}: unknown split {s!r} (allowed {SPLITS})')
            if not isinstance(n, int) or n < 1:
                fail(f'dataset {d["name"]!r} split {s!r}: sample count {n!r} must be a positive integer')
    enames = set()
    for i, e in enumerate(m['experts']):
        for key in ('name', 'dataset', 'dim'):
            if key not in e:
                fail(f'experts[{i}] lacks field {key!r}')
        _check_name('expert', e['name'])
        if e['name'] in enames:
            fail(f'expert {e["name"]!r} listed twice')
        enames.add(e['name'])
        if e['dataset'] not in names:
            fail(f'expert {e["name"]!r}: its dataset {e["dataset"]!r} is not among the datasets')
        if not isinstance(e['dim'], int) or e['dim'] < 1:
            fail(f'expert {e["name"]!r}: dim {e["dim"]!r} must be a positive integer')
        e.setdefault('config', '')
        e.setdefault('checkpoint_sha256', '')
    return m


class FeatureStoreWriter:
    """Write a feature store atomically: a temporary sibling directory, validated, then ``os.replace``.

    Arrays are saved as they are added, so a large store never sits in memory. On an exception inside the
    ``with`` block the temporary directory is removed and nothing appears at ``path``.

    Args:
        path: the store directory to create.
        overwrite: replace an existing store at ``path`` (only after the new one validated).
    """

    def __init__(self, path, overwrite: bool = False):
        self.path = Path(path)
        self.overwrite = overwrite
        self._datasets: dict[str, dict] = {}
        self._experts: dict[str, dict] = {}
        self._arrays: dict[str, dict] = {}
        self._tmp: Path | None = None

    def __enter__(self) -> FeatureStoreWriter:
        if self.path.exists() and not self.overwrite:
            raise FeatureStoreError(f'{self.path} already exists (pass overwrite / --overwrite to '
                                    f'replace it)')
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=f'.{self.path.name}.tmp-', dir=self.path.parent))
        return self

    def __exit__(self, exc_type, exc, tb):
        from jedi_repro.atomic import as_disk_error, disk_error
        try:
            if exc_type is None:
                self._finish()
        except BaseException as error:
            exc = error
            raise
        finally:
            cause = as_disk_error(exc, self._tmp or self.path) if exc is not None else None
            if self._tmp is not None and self._tmp.exists():
                shutil.rmtree(self._tmp, ignore_errors=True)
            if cause is not None:  # a full disk: nothing appears at path, the message names it
                raise disk_error(cause, self.path) from None
        return False

    # ---------------------------------------------------------------- declarations
    def add_dataset(self, name: str, classes, metric: str = 'top1', multilabel: bool = False) -> None:
        _check_name('dataset', name)
        if name in self._datasets:
            raise FeatureStoreError(f'dataset {name!r} added twice')
        if metric not in METRICS:
            raise FeatureStoreError(f'dataset {name!r}: metric {metric!r} not in {METRICS}')
        classes = [str(c) for c in classes]
        if not classes:
            raise FeatureStoreError(f'dataset {name!r}: class list is empty')
        self._datasets[name] = dict(name=name, classes=classes, metric=metric, multilabel=bool(multilabel),
                                    splits={})

    def add_expert(self, name: str, dataset: str, dim: int, head_weight, head_bias, config: str = '',
                   checkpoint_sha256: str = '', provenance: dict | None = None) -> None:
        """Register an expert and its head; ``provenance`` (where a published expert's weights come from:
        package, version, sha256s) is kept in the manifest's ``experts[].provenance``."""
        _check_name('expert', name)
        if name in self._experts:
            raise FeatureStoreError(f'expert {name!r} added twice')
        if dataset not in self._datasets:
            raise FeatureStoreError(f'expert {name!r}: dataset {dataset!r} must be added before its expert')
        n_cls = len(self._datasets[dataset]['classes'])
        w = np.asarray(head_weight, dtype=np.float32)
        b = np.asarray(head_bias, dtype=np.float32)
        if w.shape != (n_cls, int(dim)) or b.shape != (n_cls,):
            raise FeatureStoreError(f'head of expert {name!r}: expected weight [{n_cls}, {dim}] and '
                                    f'bias [{n_cls}]'
                                    f' ({n_cls} classes of {dataset!r}), got {list(w.shape)} and '
                                    f'{list(b.shape)}')
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise FeatureStoreError(f'head of expert {name!r} contains NaN or Inf values')
        self._experts[name] = dict(name=name, dataset=dataset, dim=int(dim), config=str(config),
                                   checkpoint_sha256=str(checkpoint_sha256))
        if provenance:
            self._experts[name]['provenance'] = {str(k): str(v) for k, v in provenance.items()}
        wrel, brel = head_paths(name)
        self._save(wrel, w)
        self._save(brel, b)

    def add_labels(self, dataset: str, split: str, labels) -> None:
        d = self._need_dataset(dataset)
        if split not in SPLITS:
            raise FeatureStoreError(f'dataset {dataset!r}: unknown split {split!r} (allowed {SPLITS})')
        y = np.asarray(labels)
        n_cls = len(d['classes'])
        if d['multilabel']:
            if y.ndim != 2 or y.shape[1] != n_cls:
                raise FeatureStoreError(f'labels of {dataset!r}/{split}: multi-label needs '
                                        f'multi-hot [N, {n_cls}],'
                                        f' got shape {list(y.shape)}')
            if not np.isin(y, (0, 1)).all():
                raise FeatureStoreError(f'labels of {dataset!r}/{split}: multi-hot values must be 0 or 1')
            y = y.astype(np.uint8)
        else:
            if y.ndim != 1:
                raise FeatureStoreError(f'labels of {dataset!r}/{split}: expected int labels [N], got shape '
                                        f'{list(y.shape)} (multi-hot needs a multi-label dataset)')
            if y.dtype.kind == 'f':
                if not np.isfinite(y).all() or (y != np.round(y)).any():
                    raise FeatureStoreError(f'labels of {dataset!r}/{split}: non-integer label values')
            elif y.dtype.kind not in 'iu':
                raise FeatureStoreError(f'labels of {dataset!r}/{split}: dtype {y.dtype} is not an '
                                        f'integer type')
            y = y.astype(np.int64)
        if len(y) == 0:
            raise FeatureStoreError(f'labels of {dataset!r}/{split}: the split is empty')
        _check_labels(y, n_cls, d['multilabel'], f'labels of {dataset!r}/{split}')
        d['splits'][split] = int(len(y))
        self._save(labels_path(dataset, split), y)

    def set_labeled_mask(self, dataset: str, mask) -> None:
        self._need_dataset(dataset)
        m = np.asarray(mask)
        if m.dtype != np.bool_ or m.ndim != 1:
            raise FeatureStoreError(f'labelled mask of {dataset!r}: expected bool [N_train], got '
                                    f'{m.dtype}{list(m.shape)}')
        self._save(mask_path(dataset), m)

    def add_features(self, expert: str, dataset: str, split: str, array) -> None:
        if expert not in self._experts:
            raise FeatureStoreError(f'features for unknown expert {expert!r} (add_expert first)')
        self._need_dataset(dataset)
        x = np.asarray(array)
        rel = feature_path(expert, dataset, split)
        if x.dtype == np.float64:
            x = x.astype(np.float32)
        if str(x.dtype) not in FEATURE_DTYPES:
            raise FeatureStoreError(f'{rel}: dtype {x.dtype} is not one of {FEATURE_DTYPES} (or float64)')
        dim = self._experts[expert]['dim']
        if x.ndim != 2 or x.shape[1] != dim:
            raise FeatureStoreError(f'{rel}: expected [N, {dim}] (dim of expert {expert!r}), got '
                                    f'{list(x.shape)}')
        n = self._datasets[dataset]['splits'].get(split)
        if n is not None and x.shape[0] != n:
            raise FeatureStoreError(f'{rel}: {x.shape[0]} rows, but the labels of '
                                    f'{dataset!r}/{split} have {n}')
        for chunk in _iter_chunks(x):
            if not all_finite(chunk):
                raise FeatureStoreError(f'{rel}: features contain NaN or Inf values')
        self._save(rel, x)

    def add_features_stream(self, expert: str, dataset: str, split: str, chunks,
                            dtype: str = 'float16') -> None:
        """Like :meth:`add_features`, from row chunks written as they come (memory: one chunk).

        The labels of ``dataset``/``split`` must be added first: they fix the row count.
        """
        if expert not in self._experts:
            raise FeatureStoreError(f'features for unknown expert {expert!r} (add_expert first)')
        d = self._need_dataset(dataset)
        rel = feature_path(expert, dataset, split)
        if str(dtype) not in FEATURE_DTYPES:
            raise FeatureStoreError(f'{rel}: dtype {dtype} is not one of {FEATURE_DTYPES}')
        if split not in d['splits']:
            raise FeatureStoreError(f'{rel}: add the labels of {dataset!r}/{split} first (they fix N)')
        shape = (d['splits'][split], self._experts[expert]['dim'])
        from jedi_repro.atomic import check_free_space
        check_free_space(self._tmp, int(np.prod(shape)) * np.dtype(dtype).itemsize,
                         f'feature store {self.path}: array {rel}')
        try:
            sha = write_npy_stream(self._tmp / rel, shape, dtype, chunks, what=rel)
        except ValueError as exc:
            raise FeatureStoreError(str(exc)) from None
        self._arrays[rel] = dict(shape=list(shape), dtype=str(dtype), sha256=sha)

    # ---------------------------------------------------------------- internals
    def _need_dataset(self, name: str) -> dict:
        if self._tmp is None:
            raise FeatureStoreError('FeatureStoreWriter must be used as a context manager (with ...)')
        if name not in self._datasets:
            raise FeatureStoreError(f'unknown dataset {name!r} (add_dataset first)')
        return self._datasets[name]

    def _save(self, rel: str, arr: np.ndarray) -> None:
        if self._tmp is None:
            raise FeatureStoreError('FeatureStoreWriter must be used as a context manager (with ...)')
        f = self._tmp / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        from jedi_repro.atomic import check_free_space
        check_free_space(self._tmp, int(arr.nbytes), f'feature store {self.path}: array {rel}')
        np.save(f, np.ascontiguousarray(arr), allow_pickle=False)
        self._arrays[rel] = dict(shape=list(arr.shape), dtype=str(arr.dtype), sha256=sha256_file(f))

    def _finish(self) -> None:
        for name, d in self._datasets.items():
            if 'train' in d['splits'] and mask_path(name) not in self._arrays:
                self._save(mask_path(name), np.ones(d['splits']['train'], dtype=np.bool_))
        manifest = dict(format=FORMAT, format_version=FORMAT_VERSION,
                        datasets=list(self._datasets.values()), experts=list(self._experts.values()),
                        arrays=dict(sorted(self._arrays.items())))
        (self._tmp / 'manifest.json').write_text(json.dumps(manifest, indent=1))
        FeatureStore.open(self._tmp)  # validates everything before it becomes visible
        old = None
        if self.path.exists():
            old = self.path.parent / f'.{self.path.name}.old-{os.getpid()}'
            os.replace(self.path, old)
        os.replace(self._tmp, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
