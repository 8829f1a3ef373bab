"""The synth -> experts -> extract pipeline as one function (what ``jedi demo`` calls)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from jedi_repro import workspace
from jedi_repro.experts.extract import ExpertSpec, default_expert_configs, extract
from jedi_repro.experts.train import EXPORT_NAME, train_expert


def average_precision(scores, positives) -> float:
    """Average precision of one class: mean precision at the rank of each positive (ties by order)."""
    import numpy as np

    order = np.argsort(-scores, kind='stable')
    hits = positives[order].astype(float)
    if hits.sum() == 0:
        return float('nan')
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum())


def own_dataset_metrics(store, split: str = 'test') -> dict:
    """Each expert on its own dataset, from the stored features and head: top1, mean_class, mAP, chance.

    Args:
        store: an open ``FeatureStore``.
        split: which split to score.

    Returns:
        ``{expert: {'dataset', 'top1', 'mean_class', 'mAP', 'chance'}}`` (chance = 1 / classes).
    """
    import numpy as np

    out = {}
    for name in store.expert_names:
        ds = store.expert(name)['dataset']
        w, b = store.head(name)
        logits = np.asarray(store.features(name, ds, split), np.float32) @ w.T + b
        y = np.asarray(store.labels(ds, split))
        pred = logits.argmax(1)
        classes = range(w.shape[0])
        per_class = [float((pred[y == c] == c).mean()) for c in classes if (y == c).any()]
        aps = [average_precision(logits[:, c], y == c) for c in classes if (y == c).any()]
        out[name] = dict(dataset=ds, top1=float((pred == y).mean()), mean_class=float(np.mean(per_class)),
                         mAP=float(np.mean(aps)), chance=1.0 / w.shape[0],
                         metric=store.dataset(ds)['metric'])
    return out


# Training epochs per preset (the configs' own max_epochs are the demo schedule).
PRESET_EPOCHS = {'quick': 2, 'demo': None}


def build_features(preset: str = 'demo', seed: int = 0, out: str | os.PathLike | None = None,
                   data_root: str | os.PathLike | None = None, experts_dir: str | os.PathLike | None = None,
                   configs: list[str | os.PathLike] | None = None, max_epochs: int | None = None,
                   overwrite: bool = False, show_progress: bool = False, log=print) -> Path:
    """Render the synthetic benchmark, train every expert on its own dataset, extract the feature store.

    Each stage reuses what exists: an existing data root with the same (preset, seed) is not re-rendered,
    an expert whose ``expert.json`` matches the data root and epochs is not retrained, and cached feature
    blocks are reused.

    Args:
        preset: 'quick' (tests: seconds per stage) or 'demo'.
        seed: benchmark and training seed.
        out: feature store directory; default ``$JEDI_HOME/features/synth-<preset>-s<seed>``.
        data_root: where to render; default ``$JEDI_HOME/synth/<preset>-s<seed>``.
        experts_dir: parent of the experts' work dirs; default
            ``$JEDI_HOME/work_dirs/experts-<preset>-s<seed>``.
        configs: expert configs; default every ``mm_configs/experts/*.py``.
        max_epochs: override every expert's schedule (default: 2 for quick, the configs' own for demo).
        overwrite: replace an existing store at ``out``.
        show_progress: tqdm bars during extraction.
        log: printer (``None`` for silence).

    Returns:
        The feature store path. A ``pipeline.json`` next to the experts records per-stage wall times, each
        expert's Runner val/test metrics, and ``own_dataset_metrics`` of the store (top1, mean class
        accuracy, mAP, chance) per expert on its own test split. An existing store at ``out`` is replaced.
    """
    from jedi_repro.data.synth import generate

    tag = f'{preset}-s{seed}'
    data_root = Path(data_root) if data_root else workspace.path('synth', tag)
    out = Path(out) if out else workspace.features_dir(f'synth-{tag}')
    experts_dir = Path(experts_dir) if experts_dir else workspace.work_dir(f'experts-{tag}')
    epochs = max_epochs if max_epochs is not None else PRESET_EPOCHS.get(preset)
    timings = {}

    t = time.time()
    bench = data_root / 'benchmark.json'
    if bench.is_file() and json.loads(bench.read_text()).get('preset') == preset and \
            json.loads(bench.read_text()).get('seed') == seed:
        if log:
            log(f'pipeline: reusing data root {data_root}')
    else:
        generate(data_root, preset=preset, seed=seed, overwrite=True, log=log)
    timings['synth_s'] = round(time.time() - t, 2)

    t = time.time()
    specs, experts = [], {}
    for config in (configs or default_expert_configs()):
        config = Path(config)
        wd = experts_dir / config.stem
        done = wd / 'expert.json'
        prev = json.loads(done.read_text()) if done.is_file() else None
        want = dict(data_root=str(data_root.resolve()), epochs=epochs, seed=seed)
        if prev and prev.get('pipeline') == want and (wd / EXPORT_NAME).is_file():
            result = prev
            if log:
                log(f'pipeline: reusing expert {config.stem}')
        else:
            result = train_expert(config, data_root=data_root, work_dir=wd, max_epochs=epochs, seed=seed)
            result['pipeline'] = want
            tmp = wd / 'expert.json.tmp'
            tmp.write_text(json.dumps(result, indent=1) + '\n')
            os.replace(tmp, done)
            if log:
                top1 = result['test'].get('acc/top1')
                log(f'pipeline: trained {config.stem} in {result["wall_s"]:.0f} s, test top1 {top1:.3f}')
        experts[config.stem] = {k: result[k] for k in ('dataset', 'val', 'test', 'wall_s')}
        specs.append(ExpertSpec(config, wd / EXPORT_NAME))
    timings['experts_s'] = round(time.time() - t, 2)

    t = time.time()
    res = extract(data_root, out, experts=specs, overwrite=overwrite or out.exists(),
                  show_progress=show_progress, log=log)
    timings['extract_s'] = round(time.time() - t, 2)
    from jedi_repro.data.feature_store import FeatureStore
    summary = dict(preset=preset, seed=seed, data_root=str(data_root), store=res['store'], timings=timings,
                   experts=experts, extract=res,
                   own_dataset_test=own_dataset_metrics(FeatureStore.open(res['store'])))
    experts_dir.mkdir(parents=True, exist_ok=True)
    tmp = experts_dir / 'pipeline.json.tmp'
    tmp.write_text(json.dumps(summary, indent=1) + '\n')
    os.replace(tmp, experts_dir / 'pipeline.json')
    return Path(res['store'])
