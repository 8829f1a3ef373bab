"""Files the data layer reads and the expert stages share: annotation lists, file hashes, checkpoints.

They live here, below ``experts/``, so that the importers (``data/importers.py``) need nothing from the
expert stages (layering: data <- experts <- engine, studies <- cli).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from jedi_repro.errors import JediError


def read_annotations(list_path: str | os.PathLike, num_classes: int | None = None) -> list[tuple[str, int]]:
    """Parse an MMAction2 VideoDataset list (``path label`` per line).

    Args:
        list_path: the annotation list.
        num_classes: if given, labels must lie in [0, num_classes).

    Returns:
        ``[(relative_path, label), ...]``.

    Raises:
        JediError: missing file, a malformed line or an out-of-range label (file and line named).
    """
    list_path = Path(list_path)
    if not list_path.is_file():
        raise JediError(f'annotation list {list_path} does not exist')
    entries = []
    for lineno, line in enumerate(list_path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2:
            raise JediError(f'{list_path}:{lineno}: expected "path label", got {line!r}')
        try:
            label = int(parts[1])
        except ValueError:
            raise JediError(f'{list_path}:{lineno}: label {parts[1]!r} is not an integer') from None
        if label < 0 or (num_classes is not None and label >= num_classes):
            raise JediError(f'{list_path}:{lineno}: label {label} is outside [0, {num_classes})')
        entries.append((parts[0], label))
    if not entries:
        raise JediError(f'annotation list {list_path} is empty')
    return entries


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            h.update(block)
    return h.hexdigest()


def strip_ddp_prefix(state: dict) -> dict:
    """A DDP-wrapped model's state dict (every key ``module.<key>``) as the bare model's; else unchanged."""
    if state and all(isinstance(k, str) and k.startswith('module.') for k in state):
        return {k[len('module.'):]: v for k, v in state.items()}
    return state


def load_expert_state(path: str | os.PathLike, mmap: bool = False) -> tuple[dict, dict]:
    """Load an exported expert (or an mmengine checkpoint) without unpickling arbitrary objects.

    ``torch.load(weights_only=True)``; mmengine's own checkpoint classes are allow-listed by
    ``jedi_repro.compat``. Layouts: ``{'state_dict': ..., 'meta': ...}`` (mmengine, the model zoo,
    ``jedi experts train``) or a bare state dict, either with a ``module.`` prefix on every key (DDP), which
    is stripped. Keys and shapes are not checked here (``jedi_repro.experts.checkpoint`` does that).

    Args:
        path: the checkpoint file.
        mmap: memory-map the tensors instead of reading them (cheap when only names and shapes are
            needed); a file in PyTorch's legacy (non-zip) format is read in full.

    Returns:
        ``(state_dict, meta)``.

    Raises:
        JediError: missing file or a file that is not a weights-only checkpoint.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise JediError(f'expert checkpoint {path} does not exist (train it with `jedi experts train`)')
    try:
        try:
            obj = torch.load(str(path), map_location='cpu', weights_only=True, mmap=mmap)
        except RuntimeError as exc:
            if not (mmap and 'mmap' in str(exc)):
                raise
            obj = torch.load(str(path), map_location='cpu', weights_only=True)
    except Exception as exc:
        raise JediError(f'cannot load checkpoint {path} with weights_only=True: '
                        f'{str(exc).splitlines()[0][:300]}') from exc
    if isinstance(obj, dict) and isinstance(obj.get('state_dict'), dict):
        meta = obj.get('meta')
        return strip_ddp_prefix(obj['state_dict']), meta if isinstance(meta, dict) else {}
    if isinstance(obj, dict) and obj and all(hasattr(v, 'shape') for v in obj.values()):
        return strip_ddp_prefix(obj), {}
    raise JediError(f'{path} holds no `state_dict` (expected {{"state_dict": {{key: tensor}}, '
                    '"meta": {...}} or a bare {key: tensor} state dict)')
