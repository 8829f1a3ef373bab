"""A test double of ``jedi_repro.engine.train.train`` with the same signature and contract.

Its metrics are a known function of the configuration and seed, so tests can check that the study
computes the mean over seeds and picks the right best trial. Validation and test disagree on purpose:
on validation (``expected_top1``) a larger gamma is better, on test (``expected_test_top1``) it is
worse, so a study that chose on test would pick the opposite trial. It calls the extra hooks'
``after_val_epoch`` once per epoch like the real runner, writes ``WORK_DIR/metrics.json``, and can be
slowed down (``JEDI_STUB_SLEEP_S`` per epoch) and announce itself (``JEDI_STUB_MARK_DIR``: a file
``<pid>`` per run) so that a test can SIGKILL the worker mid-trial. With ``JEDI_STUB_COMPLETE`` set it
records a converged run and the store's hash, as a finished real run does (reusable runs).
"""
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

from jedi_repro import aggregates

DATASETS = ('ds0', 'ds1')


def expected_top1(gamma: float, seed: int, dataset: str = 'ds0', role: str = 'teacher') -> float:
    """The stub's final top-1: better with gamma, a small per-seed offset."""
    base = {'expert': 0.5, 'student': 0.55, 'teacher': 0.6}[role] + 0.05 * DATASETS.index(dataset)
    return round(base + 0.2 * float(gamma) + 0.01 * seed, 6)


def expected_test_top1(gamma: float, seed: int, dataset: str = 'ds0', role: str = 'teacher') -> float:
    """The stub's test top-1: gamma hurts on test by as much as it helps on validation, and more."""
    return round(expected_top1(gamma, seed, dataset, role) - 0.3 * float(gamma), 6)


def train(cfg, features, work_dir, cfg_options=None, extra_hooks=None, seed=None, resume=False):
    opts = dict(cfg_options or {})
    gamma = float(opts.get('model.gamma', 0.4))
    seed = int(seed if seed is not None else opts.get('randomness.seed', 0))
    epochs = int(opts.get('train_cfg.max_epochs', 2))
    mark = os.environ.get('JEDI_STUB_MARK_DIR')
    if mark:
        Path(mark, f'{os.getpid()}').write_text(str(work_dir))
    if os.environ.get('JEDI_STUB_FAIL_GAMMA') and float(os.environ['JEDI_STUB_FAIL_GAMMA']) == gamma:
        raise RuntimeError(f'stub failure for gamma={gamma}')

    def block(scale, fn=expected_top1):
        out = {}
        for ds in DATASETS:
            out[ds] = {r: {'top1': fn(gamma, seed, ds, r) * scale, 'top5': 1.0,
                           'mean_class': fn(gamma, seed, ds, r) * scale} for r in
                       ('expert', 'student', 'teacher')}
        mean = {r: {m: sum(out[d][r][m] for d in DATASETS) / len(DATASETS) for m in ('top1', 'top5',
                                                                                     'mean_class')}
                for r in ('expert', 'student', 'teacher')}
        for r in mean:  # the toy store's datasets are all top-1: their primary mean (jedi_repro.aggregates)
            mean[r]['primary'] = aggregates.mean(out[d][r]['top1'] for d in DATASETS)
        return out, mean

    for epoch in range(1, epochs + 1):
        time.sleep(float(os.environ.get('JEDI_STUB_SLEEP_S', '0')))
        per_ds, mean = block(epoch / epochs)
        val = {f'{ds}/{r}/{m}': v for ds, roles in per_ds.items() for r, ms in roles.items()
               for m, v in ms.items()}
        val.update({f'mean/{r}/{m}': v for r, ms in mean.items() for m, v in ms.items()})
        runner = SimpleNamespace(epoch=epoch)
        for hook in extra_hooks or []:
            hook.after_val_epoch(runner, val)
    per_ds, mean = block(1.0, expected_test_top1)
    val_ds, val_mean = block(1.0)  # the last epoch's validation metrics: the "checkpoint" tested
    config = {'model': {'gamma': gamma, 'alpha': 1.0}, 'train_cfg': {'max_epochs': epochs},
              'randomness': {'seed': seed}}
    metrics = {'datasets': per_ds, 'mean': mean, 'val': {'datasets': val_ds, 'mean': val_mean}, 'seed': seed,
               'config': config, 'wall_s': 0.01}
    if os.environ.get('JEDI_STUB_COMPLETE'):  # what a finished run records: reusable (engine/reuse.py)
        from jedi_repro.data.feature_store import FeatureStore
        metrics.update(convergence={'converged': True, 'last_epoch': epochs},
                       features_hash=FeatureStore.open(features, check_values=False).content_hash())
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    Path(work_dir, 'metrics.json').write_text(json.dumps(metrics))
    return metrics
