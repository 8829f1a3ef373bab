"""The synth -> experts -> extract pipeline as one function (what ``jedi demo`` calls)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from jedi_repro import workspace
from jedi_repro.aggregates import pct
from jedi_repro.atomic import write_text_atomic
from jedi_repro.errors import JediError
from jedi_repro.experts.config import load_expert_config, sha256_file
from jedi_repro.experts.extract import ExpertSpec, default_expert_configs, extract
from jedi_repro.experts.train import EXPORT_NAME, init_backbone_source, train_expert


def average_precision(scores, positives) -> float:
    """Average precision of one class: mean precision at the rank of each positive (ties by order)."""
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


# L2 strengths tried by the linear probes; the one with the best val top-1 is kept (ties: the stronger).
PROBE_L2 = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def _standardised_blocks(store, experts: list[str], dataset: str, fit_rows) -> dict:
    """Per split, the experts' features of ``dataset`` z-scored with train statistics and concatenated.

    Each expert block is also divided by sqrt(its dim), so that a 2048-d block does not outweigh a 128-d
    one under the same L2 penalty.
    """
    out = {}
    for split in ('train', 'val', 'test'):
        parts = []
        for name in experts:
            train = np.asarray(store.features(name, dataset, 'train'), np.float64)[fit_rows]
            mu, sd = train.mean(0), train.std(0) + 1e-6
            x = (np.asarray(store.features(name, dataset, split), np.float64) - mu) / sd
            parts.append(x / np.sqrt(x.shape[1]))
        out[split] = np.concatenate(parts, axis=1)
    return out


def fit_linear_probe(x, y, n_classes: int, l2: float, init=None, max_iter: int = 100):
    """Multinomial logistic regression (mean cross-entropy + ``l2 * ||W||^2``), full-batch L-BFGS.

    Strictly convex for ``l2 > 0`` and started from zero (or ``init``), so the result is deterministic.

    Args:
        x: float features [N, D].
        y: int labels [N].
        n_classes: number of classes.
        l2: weight decay on W (the bias is not penalised).
        init: optional ``(W, b)`` to start from (a warm start along a regularisation path).
        max_iter: L-BFGS iterations.

    Returns:
        ``(W [C, D], b [C])`` as float64 numpy arrays.
    """
    import torch

    xt = torch.as_tensor(x, dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.long)
    w0, b0 = init if init is not None else (np.zeros((n_classes, xt.shape[1])), np.zeros(n_classes))
    w = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(b0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=max_iter, tolerance_grad=1e-6, tolerance_change=1e-9,
                            history_size=20, line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w.T + b, yt) + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


def probe_complementarity(store, l2_grid=PROBE_L2, labeled_only: bool = False) -> dict:
    """Do the other experts know something the own expert does not? Linear probes per dataset.

    For every single-label dataset with a test split and an own expert, two multinomial logistic
    regressions are fitted on its train clips: one on the own expert's features, one on the concatenation
    of every expert's features. Each picks its L2 strength by val top-1; test top-1 (and mAP) is reported,
    never used to choose. ``all > own`` means the experts are complementary on that dataset, the situation
    JEDI's teachers exploit. A diagnostic of what the frozen features encode, so by default every train
    clip's label is used (``labeled_only=True``: only the labels an expert and JEDI may use).

    Args:
        store: an open ``FeatureStore``.
        l2_grid: L2 strengths to choose from.
        labeled_only: fit on the labelled train subset only.

    Returns:
        ``{dataset: {'own_expert', 'own', 'all', 'own_mAP', 'all_mAP', 'chance', 'l2_own', 'l2_all',
        'n_train'}}``; datasets that cannot be probed get ``{'skipped': reason}``.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny problems: 2 threads measured ~9x slower (sync overhead), not faster
    try:
        return _probe_all(store, l2_grid, labeled_only)
    finally:
        torch.set_num_threads(threads)


def _probe_all(store, l2_grid, labeled_only: bool) -> dict:
    out = {}
    owners = {store.expert(e)['dataset']: e for e in store.expert_names}
    for ds in store.dataset_names:
        meta = store.dataset(ds)
        if meta.get('multilabel'):
            out[ds] = dict(skipped='multi-label dataset')
            continue
        if ds not in owners:
            out[ds] = dict(skipped='no own expert')
            continue
        if not {'train', 'val', 'test'} <= set(store.splits(ds)):
            out[ds] = dict(skipped='needs train, val and test splits')
            continue
        n_cls = len(meta['classes'])
        mask = np.asarray(store.labeled_mask(ds))
        rows = np.flatnonzero(mask) if labeled_only else np.arange(len(mask))
        y = {s: np.asarray(store.labels(ds, s)) for s in ('train', 'val', 'test')}
        y['train'] = y['train'][rows]
        res = dict(own_expert=owners[ds], chance=1.0 / n_cls, n_train=int(len(rows)))
        for key, experts in (('own', [owners[ds]]), ('all', list(store.expert_names))):
            x = _standardised_blocks(store, experts, ds, rows)
            x['train'] = x['train'][rows]
            best, prev = None, None
            for l2 in sorted(l2_grid, reverse=True):  # strong to weak, each warm-started from the last
                w, b = prev = fit_linear_probe(x['train'], y['train'], n_cls, l2, init=prev)
                val = float(((x['val'] @ w.T + b).argmax(1) == y['val']).mean())
                if best is None or val > best[0]:
                    best = (val, l2, w, b)
            _, l2, w, b = best
            logits = x['test'] @ w.T + b
            res[key] = float((logits.argmax(1) == y['test']).mean())
            res[f'{key}_mAP'] = float(np.nanmean([average_precision(logits[:, c], y['test'] == c)
                                                  for c in range(n_cls) if (y['test'] == c).any()]))
            res[f'l2_{key}'] = l2
        out[ds] = res
    return out


def default_experts_dir(preset: str, seed: int) -> Path:
    """Where ``build_features`` trains the experts of a preset and seed and writes ``pipeline.json``."""
    return workspace.work_dir(f'experts-{preset}-s{seed}')


# Training epochs per preset (the configs' own max_epochs are the demo schedule).
PRESET_EPOCHS = {'quick': 2, 'demo': None}
# Expert training and extraction (3D convolutions) give different floats under different intra-op thread
# counts, so the stage runs at one count fixed by the configuration, never by the machine's cores or load:
# the same command then gives the same store on every machine of one CPU kind (README, "Same command, same
# numbers": the thread count and the CPU kind; another kind dispatches other convolution kernels).
# JEDI_EXPERT_THREADS changes it on purpose; the count is part of each expert's cache key.
EXPERT_STAGE_THREADS = 2


@contextlib.contextmanager
def _expert_stage_thread_count():
    """torch's intra-op threads at ``expert_stage_threads()`` inside the block, restored after it."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(expert_stage_threads())
    try:
        yield
    finally:
        torch.set_num_threads(before)


def expert_stage_threads() -> int:
    """The expert stage's intra-op thread count: ``JEDI_EXPERT_THREADS`` or ``EXPERT_STAGE_THREADS``."""
    raw = os.environ.get('JEDI_EXPERT_THREADS', '').strip()
    if not raw:
        return EXPERT_STAGE_THREADS
    if not raw.isdigit() or int(raw) < 1:
        raise JediError(f'JEDI_EXPERT_THREADS={raw!r}: expected a positive integer')
    return int(raw)


def expert_work(config: Path, data_root: Path, epochs: int | None) -> tuple[int, int] | None:
    """``(training clips, epochs)`` of an expert: what its training costs, for the stage's time estimate;
    None when its list cannot be read (no estimate, the training itself reports the problem)."""
    try:
        cfg = load_expert_config(config, data_root=data_root)
        ann = Path(cfg.train_dataloader.dataset.ann_file)
        clips = sum(1 for line in ann.read_text().splitlines() if line.strip())
        return clips, int(epochs or cfg.train_cfg.max_epochs)
    except Exception:  # noqa: BLE001 - an estimate only
        return None


def _units(work: tuple[int, int] | None) -> float:
    return float(work[0] * work[1]) if work else 0.0


def expert_stage_line(k: int, order: list, work: dict, trained_units: float, trained_s: float) -> str:
    """``pipeline: training expert 2/4 r3d18_ucf_like (48 clips x 30 epochs); expert stage ~3 min 20 s
    left``: the time left at the clip-epochs per second of the experts trained so far (their fine-tuned
    copies share the architecture, so the rate carries over)."""
    from jedi_repro.console import duration, eta_s

    name = order[k - 1][0].stem
    w = work.get(name)
    size = f' ({w[0]} clips x {w[1]} epochs)' if w else ''
    left = eta_s(trained_units, trained_s, sum(_units(work.get(c.stem)) for c, _, _ in order[k - 1:]))
    when = (f'expert stage ~{duration(left)} left' if left is not None
            else 'time left estimated once the first expert is trained')
    return f'pipeline: training expert {k}/{len(order)} {name}{size}; {when}'


def training_order(configs: list[Path]) -> list[tuple[Path, object, str | None]]:
    """``(config, cfg, init_backbone source)`` with every pretraining source before its dependents.

    Raises:
        JediError: a config's ``jedi.init_backbone`` names an expert that is not among ``configs``, or the
            sources form a cycle.
    """
    items = {Path(c).stem: (Path(c), load_expert_config(c)) for c in configs}
    order, placed = [], set()
    while len(order) < len(items):
        progress = False
        for name, (path, cfg) in items.items():
            src = init_backbone_source(cfg)
            if name in placed:
                continue
            if src is not None and src not in items:
                raise JediError(f'{path}: jedi.init_backbone={src!r} is not one of the experts being built '
                                f'({sorted(items)})')
            if src is None or src in placed:
                order.append((path, cfg, src))
                placed.add(name)
                progress = True
        if not progress:
            raise JediError(f'jedi.init_backbone forms a cycle among {sorted(set(items) - placed)}')
    return order


def config_digest(cfg) -> str:
    """sha256 of a loaded expert config (bases merged): a changed model, pipeline or schedule retrains."""
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def expert_cache_key(cfg, data_root: Path, epochs: int | None, seed: int, init: Path | None) -> dict:
    """What a trained expert depends on; ``build_features`` reuses an expert whose ``expert.json`` holds
    the same key. ``init`` is the checkpoint its backbone starts from (None: trained from scratch), hashed,
    so a retrained pretraining source that changed retrains its dependents.

    Raises:
        JediError: ``init`` does not exist (its source was not trained).
    """
    if init is not None and not Path(init).is_file():
        raise JediError(f'pretrained backbone checkpoint {init} does not exist (train its expert first)')
    return dict(data_root=str(Path(data_root).resolve()), epochs=epochs, seed=seed, config=config_digest(cfg),
                init_backbone_sha256=sha256_file(init) if init is not None else None,
                threads=expert_stage_threads())


def build_features(preset: str = 'demo', seed: int = 0, out: str | os.PathLike | None = None,
                   data_root: str | os.PathLike | None = None, experts_dir: str | os.PathLike | None = None,
                   configs: list[str | os.PathLike] | None = None, max_epochs: int | None = None,
                   overwrite: bool = False, show_progress: bool = False, log=print) -> Path:
    """Render the synthetic benchmark, train every expert on its own dataset, extract the feature store.

    Each stage reuses what exists: an existing data root with the same (preset, seed, generator
    fingerprint) is not re-rendered, an expert whose ``expert.json`` matches the data root, epochs, seed,
    config digest and (for a fine-tuned expert) the sha256 of the checkpoint its backbone starts from is
    not retrained, and cached feature blocks are reused. Pretraining sources (``jedi.init_backbone``)
    train before their dependents, so a retrained source retrains every expert built on it.

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
        expert's Runner val/test metrics and backbone source, ``own_dataset_test`` (``own_dataset_metrics``
        of the store: top1, mean class accuracy, mAP, chance per expert on its own test split) and
        ``probe_test`` (``probe_complementarity``: own-expert vs all-experts linear probes per dataset).
        An existing store at ``out`` is replaced.
    """
    from jedi_repro.data.synth import generate
    from jedi_repro.data.synth.generate import fingerprint

    tag = f'{preset}-s{seed}'
    data_root = Path(data_root) if data_root else workspace.path('synth', tag)
    out = Path(out) if out else workspace.features_dir(f'synth-{tag}')
    experts_dir = Path(experts_dir) if experts_dir else default_experts_dir(preset, seed)
    epochs = max_epochs if max_epochs is not None else PRESET_EPOCHS.get(preset)
    timings = {}

    t = time.time()
    bench = data_root / 'benchmark.json'
    meta = json.loads(bench.read_text()) if bench.is_file() else {}
    if (meta.get('preset'), meta.get('seed'), meta.get('fingerprint')) == (preset, seed, fingerprint(preset)):
        if log:
            log(f'pipeline: reusing data root {data_root}')
    else:
        generate(data_root, preset=preset, seed=seed, overwrite=True, log=log)
    timings['synth_s'] = round(time.time() - t, 2)

    with _expert_stage_thread_count():  # expert training and extraction
        t = time.time()
        specs, experts = [], {}
        order = training_order(configs or default_expert_configs())
        work = {config.stem: expert_work(config, data_root, epochs) for config, _, _ in order}
        trained_units = trained_s = 0.0  # clip-epochs trained so far and their time: the stage's rate
        for k, (config, cfg, source) in enumerate(order, 1):
            wd = experts_dir / config.stem
            done = wd / 'expert.json'
            prev = json.loads(done.read_text()) if done.is_file() else None
            init = experts_dir / source / EXPORT_NAME if source else None
            want = expert_cache_key(cfg, data_root, epochs, seed, init)
            if prev and prev.get('pipeline') == want and (wd / EXPORT_NAME).is_file():
                result = prev
                if log:
                    log(f'pipeline: reusing expert {config.stem}')
            else:
                if log:
                    log(expert_stage_line(k, order, work, trained_units, trained_s))
                t_expert = time.time()
                result = train_expert(config, data_root=data_root, work_dir=wd, max_epochs=epochs, seed=seed,
                                      init_checkpoint=init)
                trained_units += _units(work[config.stem])
                trained_s += time.time() - t_expert
                result['pipeline'] = want
                write_text_atomic(done, json.dumps(result, indent=1) + '\n')
                if log:
                    top1 = result['test'].get('acc/top1')
                    src = f' (backbone from {source})' if source else ''
                    log(f'pipeline: trained {config.stem}{src} in {result["wall_s"]:.0f} s, '
                        f'test top-1 {pct(top1)} %')
            experts[config.stem] = {k: result.get(k)
                                    for k in ('dataset', 'val', 'test', 'wall_s', 'init_backbone')}
            specs.append(ExpertSpec(config, wd / EXPORT_NAME))
        timings['experts_s'] = round(time.time() - t, 2)

        t = time.time()
        res = extract(data_root, out, experts=specs, overwrite=overwrite or out.exists(),
                      show_progress=show_progress, log=log)
        timings['extract_s'] = round(time.time() - t, 2)
    from jedi_repro.data.feature_store import FeatureStore
    store = FeatureStore.open(res['store'])
    t = time.time()
    probe = probe_complementarity(store)
    timings['probe_s'] = round(time.time() - t, 2)
    if log:
        for ds, r in probe.items():
            if 'own' in r:
                log(f'pipeline: linear probe on {ds}, test top-1: own expert {pct(r["own"])} %, all experts '
                    f'{pct(r["all"])} % (chance {pct(r["chance"])} %)')
    summary = dict(preset=preset, seed=seed, data_root=str(data_root), store=res['store'], timings=timings,
                   experts=experts, extract=res, own_dataset_test=own_dataset_metrics(store),
                   probe_test=probe, threads=expert_stage_threads())
    experts_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(experts_dir / 'pipeline.json', json.dumps(summary, indent=1) + '\n')
    return Path(res['store'])

