"""Training on a store larger than a memory budget keeps the store's resident pages under the budget.

The store's pages reached through memory maps count in a process's RSS (file-backed) for as long as they
stay mapped; without dropping them (``PageBudget``, ``MADV_DONTNEED``), one epoch over a store leaves all
of it resident. Measured here: the RSS of the mappings of the store's own files (``/proc/self/smaps``),
sampled during a full epoch and the validation pass of ``train()``; and, as the control that shows the
measurement can fail, the same gathers with the drops off.
"""
from pathlib import Path

import pytest

from jedi_repro.data import npy_stream

DEFAULT = str(Path(__file__).resolve().parents[2] / 'mm_configs' / 'jedi' / 'jedi_default.py')
BUDGET = 48 << 20  # PageBudget's drop interval for the test (the default is 256 MB)


def store_rss_bytes(store: Path) -> int:
    """RSS of this process's mappings of files under ``store`` (from /proc/self/smaps)."""
    total, inside = 0, False
    root = str(store.resolve())
    with open('/proc/self/smaps') as f:
        for line in f:
            head = line.split()
            if len(head) >= 5 and '-' in head[0] and ':' in head[3]:  # a mapping's header line
                inside = len(head) >= 6 and head[5].startswith(root)
            elif inside and line.startswith('Rss:'):
                total += int(head[1]) * 1024
    return total


def _train_peak(store: Path, work: Path, budget: int, monkeypatch) -> tuple[int, int]:
    from mmengine.hooks import Hook

    from jedi_repro.engine.train import train
    monkeypatch.setattr(npy_stream.PageBudget.__init__, '__defaults__', (budget,))

    class Sampler(Hook):
        peak, iters = 0, 0

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            self.iters += 1
            if batch_idx % 5 == 0:
                self.peak = max(self.peak, store_rss_bytes(store))

        def after_train_epoch(self, runner):
            self.peak = max(self.peak, store_rss_bytes(store))

        def after_val_epoch(self, runner, metrics=None):
            self.peak = max(self.peak, store_rss_bytes(store))

    hook = Sampler()
    train(DEFAULT, store, work, seed=0, extra_hooks=[hook],
          cfg_options={'train_cfg.max_epochs': 1, 'model.adjustment.hidden_dim': 8,
                       'model.teacher_dropout': 0.0,  # CPU dropout is slow and beside the point here
                       'data.pool_mix': 'proportional', 'data.labeled_batch_size': 1024,
                       'data.unlabeled_batch_size': 1024, 'default_hooks.logger.interval': 1000})
    return hook.peak, hook.iters


@pytest.mark.integration
def test_store_pages_stay_under_budget_through_an_epoch(tmp_path, monkeypatch):
    from jedi_repro.data.toy import make_toy_store
    store = tmp_path / 'big'
    make_toy_store(store, n_datasets=4, n_classes=10, dim=384, n_train=20_000, n_val=1_500, n_test=None,
                   dtype='float16', chunk=8192)
    size = sum(f.stat().st_size for f in store.rglob('*.npy'))
    assert size > 250 << 20
    peak, iters = _train_peak(store, tmp_path / 'on', BUDGET, monkeypatch)
    assert iters >= 80_000 // 1024  # a full epoch: every train row was read
    assert peak < 2 * BUDGET, f'store pages resident: {peak >> 20} MB, budget {BUDGET >> 20} MB'
    # control: the same gathers without the drops (the datasets train() builds, read directly) leave most
    # of the store resident: the measurement can fail
    from jedi_repro.data.multi_dataset import JEDIEvalBatches, JEDITrainBatches
    monkeypatch.setattr(npy_stream.PageBudget.__init__, '__defaults__', (1 << 60,))
    control = 0
    batches = JEDITrainBatches(str(store), labeled_batch_size=1024, unlabeled_batch_size=1024,
                               pool_mix='proportional')
    for i in range(len(batches)):
        batches[(0, i)]
        if i % 5 == 0:
            control = max(control, store_rss_bytes(store))
    val = JEDIEvalBatches(str(store))
    for i in range(len(val)):
        val[i]
    control = max(control, store_rss_bytes(store))
    assert control > size // 2 > peak, (control >> 20, size >> 20, peak >> 20)
