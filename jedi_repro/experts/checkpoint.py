"""Strict loading of an expert checkpoint into an MMAction2 recognizer: layout -> keys and shapes -> load.

An expert's weights come from ``jedi experts train`` (its ``expert.pth``), from MMAction2's model zoo, from
``jedi experts import`` or from any tool that saves a PyTorch state dict. Whatever wrote it, the features a
store caches must be the features *that* network computes, so a checkpoint loads only if it is exactly the
config's model: every key of ``MODELS.build(cfg.model).state_dict()`` present with its shape, and no other.

Accepted layouts (``jedi_repro.data.files.load_expert_state`` reads them, weights-only):

* ``{'state_dict': {...}, 'meta': {...}}`` as mmengine saves it (zoo checkpoints, which may also carry
  ``message_hub`` / ``optimizer``: ignored) and as ``jedi experts train`` / ``jedi experts import`` write it;
* a bare state dict ``{key: tensor}``;
* either of them with every key prefixed ``module.`` (a DDP-wrapped model's ``state_dict()``): stripped.

Deliberate tolerance: BatchNorm's ``num_batches_tracked`` buffers may be absent (tools that convert weights
from other frameworks, and old PyTorch, do not write them). They count training updates and take no part
in an eval-mode forward (nor in a training one unless ``momentum=None``); the model keeps its own. Present,
they must have their shape like any key.

Refused, with one paragraph naming the file, the config and a few keys of each kind with their counts:
a missing key, an unexpected key, a shape mismatch (a head of another class count is named as such),
keys that differ only by a prefix (the likely rename is suggested, e.g. ``model.backbone.`` ->
``backbone.``), another architecture's checkpoint (few keys in common), and a backbone-only checkpoint: it
is how a *training* run starts (``jedi.init_backbone`` / ``load_from``, whose head starts fresh), but an
expert extracts with its trained head (the feature store keeps it to initialise the students), so for
extraction the head must be in the checkpoint.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from jedi_repro.errors import JediError

Shapes = dict  # {key: tuple of ints}
SHOWN = 3  # keys named per kind of mismatch
_SHAPES: dict[str, dict] = {}  # expected_shapes' memo: model config (JSON) -> {key: (shape, dtype)}


@dataclass
class StateDiff:
    """How a checkpoint's keys and shapes differ from a model's (all lists sorted)."""
    missing: list[str] = field(default_factory=list)      # in the model, not in the checkpoint
    unexpected: list[str] = field(default_factory=list)   # in the checkpoint, not in the model
    misshaped: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # (key, checkpoint, model)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (checkpoint key, model key) guesses
    shared: int = 0                                        # keys present in both with the same shape

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.misshaped)


def tolerated_missing(key: str) -> bool:
    """A model key a checkpoint may leave out (see the module docstring)."""
    return key.endswith('.num_batches_tracked') or key == 'num_batches_tracked'


def shapes_of(state: dict) -> Shapes:
    return {k: tuple(v.shape) for k, v in state.items()}


def compare_state(model: Shapes, checkpoint: Shapes) -> StateDiff:
    """Keys and shapes of a checkpoint against the model's (``num_batches_tracked`` may be missing)."""
    missing = sorted(k for k in set(model) - set(checkpoint) if not tolerated_missing(k))
    unexpected = sorted(set(checkpoint) - set(model))
    both = set(model) & set(checkpoint)
    misshaped = sorted((k, checkpoint[k], model[k]) for k in both if checkpoint[k] != model[k])
    return StateDiff(missing=missing, unexpected=unexpected, misshaped=misshaped,
                     renamed=guess_renames(missing, unexpected, model, checkpoint),
                     shared=len(both) - len(misshaped))


def _common_suffix(a: str, b: str) -> int:
    """Number of trailing dotted components two keys share."""
    pa, pb = a.split('.'), b.split('.')
    n = 0
    while n < min(len(pa), len(pb)) and pa[-1 - n] == pb[-1 - n]:
        n += 1
    return n


def guess_renames(missing: list[str], unexpected: list[str], model: Shapes,
                  checkpoint: Shapes) -> list[tuple[str, str]]:
    """Pairs (checkpoint key, model key) that are probably the same tensor under another name.

    A missing model key and an unexpected checkpoint key pair up when they have the same shape and share
    their last two or more dotted components (``encoder.layer1.0.conv1.weight`` ~
    ``backbone.layer1.0.conv1.weight``), and no other candidate shares as many.
    """
    pairs = []
    for m in missing:
        scored = [(_common_suffix(m, u), u) for u in unexpected if checkpoint[u] == model[m]]
        if not scored:
            continue
        best = max(s for s, _ in scored)
        top = [u for s, u in scored if s == best]
        if best >= 2 and len(top) == 1:
            pairs.append((top[0], m))
    return pairs


def rename_rules(pairs: list[tuple[str, str]]) -> list[tuple[str, str, int]]:
    """The prefix substitutions behind rename pairs, most frequent first: ``(old, new, count)``."""
    counts: dict[tuple[str, str], int] = {}
    for old, new in pairs:
        n = _common_suffix(old, new)
        po, pn = old.split('.'), new.split('.')
        rule = ('.'.join(po[:len(po) - n]) + '.' if len(po) > n else '',
                '.'.join(pn[:len(pn) - n]) + '.' if len(pn) > n else '')
        counts[rule] = counts.get(rule, 0) + 1
    return sorted(((o, n, c) for (o, n), c in counts.items()), key=lambda r: -r[2])


def _rule_text(old: str, new: str) -> str:
    if not new:
        return f"prefix '{old}' to drop"
    if not old:
        return f"prefix '{new}' to add"
    return f"'{old}' -> '{new}'"


def _few(keys: list[str]) -> str:
    shown = ', '.join(f"'{k}'" for k in keys[:SHOWN])
    return shown + (f' and {len(keys) - SHOWN} more' if len(keys) > SHOWN else '')


def describe_mismatch(diff: StateDiff, path, model_name: str, model: Shapes, meta: dict | None = None) -> str:
    """The one-paragraph refusal: file, model, counts and a few keys of each kind, and the likely cause."""
    parts = []
    if diff.missing:
        parts.append(f'{len(diff.missing)} model key(s) missing from it ({_few(diff.missing)})')
    if diff.unexpected:
        parts.append(f'{len(diff.unexpected)} unexpected key(s) ({_few(diff.unexpected)})')
    if diff.misshaped:
        shown = ', '.join(f"'{k}' {list(c)} in the checkpoint vs {list(m)} in the model"
                          for k, c, m in diff.misshaped[:SHOWN])
        more = f' and {len(diff.misshaped) - SHOWN} more' if len(diff.misshaped) > SHOWN else ''
        parts.append(f'{len(diff.misshaped)} shape mismatch(es) ({shown}{more})')
    msg = f'checkpoint {path} does not fit {model_name}: ' + '; '.join(parts) + '.'
    cause = likely_cause(diff, model)
    if cause:
        msg += ' ' + cause
    if meta and meta.get('config'):
        msg += f" (Its meta names the config {meta['config']}.)"
    return msg + (' Nothing was loaded; the checkpoint must hold exactly the config\'s model '
                  '(README, "An expert from the model zoo or a published model").')


def likely_cause(diff: StateDiff, model: Shapes) -> str:
    """A sentence on what the mismatch most likely is (rename, backbone only, another architecture, another
    label space), or ''."""
    rules = rename_rules(diff.renamed)
    if rules and len(diff.renamed) * 2 >= max(len(diff.missing), 1):
        shown = '; '.join(f'{_rule_text(o, n)} ({c} key(s))' for o, n, c in rules[:SHOWN])
        old, new = diff.renamed[0]
        return (f'The keys look renamed: {shown}, e.g. \'{old}\' is probably \'{new}\'; rename them '
                'in the checkpoint (a state dict is a plain dict) or use the config that wrote it.')
    beyond_backbone = sorted(k for k in model if not k.startswith('backbone.') and not tolerated_missing(k))
    if diff.shared and diff.missing == beyond_backbone and not diff.unexpected and not diff.misshaped:
        return ('It holds the backbone only: a backbone-only checkpoint starts a training run '
                '(`jedi experts train` with jedi.init_backbone or load_from, where the head starts fresh), '
                'but an expert extracts with its trained head, which must be in the checkpoint.')
    if diff.shared * 2 < len(model):
        return (f'Only {diff.shared} of the model\'s {len(model)} keys match by name and shape: it is '
                'probably a checkpoint of another architecture (or of another config).')
    head = [(k, c, m) for k, c, m in diff.misshaped if k.startswith('cls_head.')]
    if head and len(head) == len(diff.misshaped) and head[0][1][:1] != head[0][2][:1]:
        return (f'Its head has {head[0][1][0]} outputs and the config\'s {head[0][2][0]} (the class count of '
                'the data root\'s dataset): the checkpoint was trained on another label space.')
    return ''


def expected_shapes(cfg, dtypes: bool = False) -> Shapes:
    """Keys and shapes of ``MODELS.build(cfg.model).state_dict()``, cheaply.

    Built on the meta device (no memory, no init: C3D takes ~20 ms instead of ~1.6 s); a model whose
    constructor computes with tensors (e.g. ``.item()``) fails there and is built on the CPU instead.

    Args:
        cfg: the expert config.
        dtypes: map each key to ``(shape, dtype)`` instead of its shape.
    """
    import torch
    from mmaction.utils import register_all_modules
    from mmengine.registry import MODELS

    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    key = json.dumps(model_cfg, sort_keys=True, default=str)
    if key not in _SHAPES:  # one build per model config and process (extract checks, then builds)
        register_all_modules(init_default_scope=True)
        try:
            with torch.device('meta'):
                model = MODELS.build(cfg.model)
        except Exception:  # noqa: BLE001 - any constructor that cannot run on meta: build it for real
            model = MODELS.build(cfg.model)
        _SHAPES[key] = {k: (tuple(v.shape), v.dtype) for k, v in model.state_dict().items()}
    full = _SHAPES[key]
    return dict(full) if dtypes else {k: shape for k, (shape, _) in full.items()}


def config_name(cfg) -> str:
    """How a refusal names the model: the config file and the recognizer type."""
    name = getattr(cfg, 'filename', None)
    arch = cfg.model.get('type', 'the model')
    backbone = (cfg.model.get('backbone') or {}).get('type')
    arch = f'{arch} with {backbone}' if backbone else arch
    return f'the model of {name} ({arch})' if name else f'the config\'s model ({arch})'


def read_checked_state(path: str | os.PathLike, shapes: Shapes, model_name: str,
                       mmap: bool = False) -> tuple[dict, dict]:
    """The checkpoint's ``(state_dict, meta)``, after checking it fits ``shapes`` exactly.

    Args:
        path: the checkpoint (any accepted layout).
        shapes: the model's keys and shapes (``shapes_of(model.state_dict())`` or ``expected_shapes``).
        model_name: how the refusal names the model (``config_name(cfg)``).
        mmap: memory-map the tensors (a check that reads only the names and shapes).

    Raises:
        JediError: not a weights-only checkpoint, a non-tensor entry, or keys / shapes that do not fit.
    """
    from jedi_repro.data.files import load_expert_state

    state, meta = load_expert_state(path, mmap=mmap)
    not_tensor = sorted(k for k, v in state.items() if not hasattr(v, 'shape'))
    if not_tensor:
        raise JediError(f'checkpoint {path}: {len(not_tensor)} state-dict entr(y/ies) are not tensors '
                        f'({_few(not_tensor)})')
    diff = compare_state(shapes, shapes_of(state))
    if diff:
        raise JediError(describe_mismatch(diff, path, model_name, shapes, meta))
    return state, meta


def check_checkpoint(cfg, path: str | os.PathLike) -> None:
    """Refuse a checkpoint that does not fit ``cfg``'s model, before anything is built or computed.

    Reads only the names and shapes (memory-mapped) and builds the model on the meta device, so
    ``jedi extract`` checks every expert up front at little cost.
    """
    read_checked_state(path, expected_shapes(cfg), config_name(cfg), mmap=True)


def load_strict(model, path: str | os.PathLike, model_name: str | None = None) -> dict:
    """Load a checkpoint into ``model`` exactly (see the module docstring); returns its meta.

    Raises:
        JediError: the file is not a weights-only checkpoint, or its keys or shapes do not fit the model.
    """
    own = model.state_dict()
    state, meta = read_checked_state(path, shapes_of(own), model_name or f'the {type(model).__name__} model')
    fill = {k: v for k, v in own.items() if k not in state}  # tolerated: num_batches_tracked only
    model.load_state_dict({**fill, **state}, strict=True)
    return meta
