"""The hand-written JEDI training step the harness is timed against (``bench_train_epoch.py``,
``bench_paper_scale.py``): torch modules and memmap gathers only, the math of ``jedi_default.py``.

Residual MLP adjustments (zero-initialised last layer), linear students initialised from their experts'
heads, concat + dropout + linear teachers, CE + CE + tau^2 KD-CE over one proportional pool block, AdamW.
Imported by the benchmark scripts as a sibling module (``python benchmarks/<script>.py``).
"""
from __future__ import annotations

import json
from pathlib import Path

B_LAB, B_POOL, TAU, GAMMA, LR = 32, 128, 2.0, 0.4, 1e-3


class BareLoop:
    """One JEDI iteration per :meth:`step`, on a feature store's training split.

    Args:
        store_dir: the feature store.
        hidden: adjustment MLP width.
        iters: ``None``: one epoch, every sample once per plan (permutations; ``self.iters`` is the
            epoch's length, as the harness's sampler); else that many batches, each drawn without
            replacement.
        drop_pages: drop the gathered memmap pages after each batch, as the harness does at the paper's
            scale (``jedi_repro.data.npy_stream.drop_pages``).
    """

    def __init__(self, store_dir: str, hidden: int, iters: int | None = None, drop_pages: bool = False):
        import numpy as np
        import torch
        from torch import nn
        torch.manual_seed(0)
        torch.set_flush_denormal(True)  # as train() does (flush_denormal=True in the JEDI configs)
        man = json.loads((Path(store_dir) / 'manifest.json').read_text())
        ds = [d['name'] for d in man['datasets']]
        ex = [e['name'] for e in man['experts']]
        dims = [e['dim'] for e in man['experts']]
        ncls = [len(d['classes']) for d in man['datasets']]
        ntr = [d['splits']['train'] for d in man['datasets']]
        self.feats = [[np.load(f'{store_dir}/features/{e}/{d}/train.npy', mmap_mode='r') for d in ds]
                      for e in ex]
        self.labels = [np.load(f'{store_dir}/labels/{d}/train.npy', mmap_mode='r') for d in ds]
        self.n = n = len(ds)
        self.drop_pages = drop_pages

        class Adjust(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
                nn.init.zeros_(self.fc2.weight)
                nn.init.zeros_(self.fc2.bias)

            def forward(self, x):
                return x + self.fc2(torch.relu(self.fc1(x)))

        # student i reads the features of its own dataset's expert
        self.own = own = [ex.index(next(e['name'] for e in man['experts'] if e['dataset'] == d)) for d in ds]
        self.adjust = nn.ModuleList(Adjust(dm) for dm in dims).train()
        self.students = nn.ModuleList(nn.Linear(dims[own[i]], c) for i, c in enumerate(ncls)).train()
        self.teachers = nn.ModuleList(nn.Sequential(nn.Dropout(0.5), nn.Linear(sum(dims), c))
                                      for c in ncls).train()
        with torch.no_grad():  # students start as the experts (identity adjustment + expert head)
            for i in range(n):
                e = ex[own[i]]
                self.students[i].weight.copy_(torch.from_numpy(np.load(f'{store_dir}/heads/{e}/weight.npy')))
                self.students[i].bias.copy_(torch.from_numpy(np.load(f'{store_dir}/heads/{e}/bias.npy')))
        params = [*self.adjust.parameters(), *self.students.parameters(), *self.teachers.parameters()]
        self.opt = torch.optim.AdamW(params, lr=LR, weight_decay=1e-4)
        rng = np.random.default_rng(0)
        self.pool_ds = np.concatenate([np.full(k, j) for j, k in enumerate(ntr)])
        self.pool_ix = np.concatenate([np.arange(k) for k in ntr])
        if iters is None:
            iters = max(-(-len(self.pool_ds) // B_POOL), max(-(-k // B_LAB) for k in ntr))

            def stream(pop, b):
                reps = -(-iters * b // pop)
                perm = np.concatenate([rng.permutation(pop) for _ in range(reps)])
                return perm[:iters * b].reshape(iters, b)
        else:
            def stream(pop, b):
                return np.stack([rng.choice(pop, b, replace=False) for _ in range(iters)])
        self.iters = iters
        self.lab_plan = [stream(k, B_LAB) for k in ntr]
        self.pool_plan = stream(len(self.pool_ds), B_POOL)

    def step(self, it: int) -> None:
        import numpy as np
        import torch
        import torch.nn.functional as F

        from jedi_repro.data.npy_stream import drop_pages
        n = self.n
        parts = [(i, np.sort(self.lab_plan[i][it])) for i in range(n)]
        pos = self.pool_plan[it]
        pos = pos[np.lexsort((self.pool_ix[pos], self.pool_ds[pos]))]
        for j in np.unique(self.pool_ds[pos]):
            parts.append((int(j), self.pool_ix[pos][self.pool_ds[pos] == j]))
        x = [torch.from_numpy(np.concatenate([fe[j][ix] for j, ix in parts])).float() for fe in self.feats]
        ys = [torch.from_numpy(np.asarray(self.labels[i][parts[i][1]])) for i in range(n)]
        if self.drop_pages:  # as the harness does (a batch maps more than its 64 MB page budget)
            for fe in self.feats:
                for arr in fe:
                    drop_pages(arr)
        a = [self.adjust[k](x[k]) for k in range(n)]
        fused = torch.cat(a, dim=1)
        loss = 0.0
        pl = slice(n * B_LAB, n * B_LAB + B_POOL)
        for i in range(n):
            s, t = self.students[i](a[self.own[i]]), self.teachers[i](fused)
            sl = slice(i * B_LAB, (i + 1) * B_LAB)
            kd = -(torch.softmax(t[pl].detach() / TAU, 1) * torch.log_softmax(s[pl] / TAU, 1)).sum(1).mean()
            loss = (loss + F.cross_entropy(s[sl], ys[i]) + F.cross_entropy(t[sl], ys[i])
                    + GAMMA * TAU ** 2 * kd)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
