"""`jedi features`: import and inspect feature stores.

``import-npz`` layout (other tools rely on it)::

    jedi features import-npz --out STORE --dataset NAME=DATA.npz [--dataset ...] \\
        --expert NAME=DATASET:HEAD.npz [--expert ...]

DATA.npz: ``y_train``, ``y_val``, ``y_test`` (int ``[N]``, or multi-hot ``[N, C]``: multi-label),
optional ``class_names``, optional ``labeled_train`` (bool ``[N_train]``), and ``feat__E__S``
``[N_S, D_E]`` for every expert E and split S. HEAD.npz: ``weight [C_DATASET, D_E]``, ``bias [C_DATASET]``.
"""
from __future__ import annotations

import argparse

from jedi_repro.cli.features_mmaction import register as register_mmaction


def register(sub):
    p = sub.add_parser('features', help='Import and inspect feature stores',
                       description='Import and inspect feature stores (frozen expert features, '
                                   'labels, heads).')
    fsub = p.add_subparsers(dest='features_command', metavar='ACTION', required=True)

    imp = fsub.add_parser(
        'import-npz', help='Build a feature store from plain .npz arrays',
        description=__doc__.split('\n', 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    imp.add_argument('--out', required=True, help='store directory to create')
    imp.add_argument('--dataset', action='append', required=True, metavar='NAME=DATA.npz',
                     help='a dataset and its arrays (repeat per dataset; order is kept)')
    imp.add_argument('--expert', action='append', required=True, metavar='NAME=DATASET:HEAD.npz',
                     help="an expert, its own dataset and its head (repeat per expert)")
    imp.add_argument('--metric', action='append', default=[], metavar='DATASET=mAP',
                     help='declare the main metric of a dataset (top1 or mAP; multi-label implies mAP)')
    imp.add_argument('--overwrite', action='store_true', help='replace an existing store')
    imp.set_defaults(func=_import_npz)

    info = fsub.add_parser('info', help='Print a readable summary of a feature store',
                           description='Validate a feature store and print its datasets, experts and sizes.')
    info.add_argument('store', help='store directory')
    info.add_argument('--verify', action='store_true', help="also recompute every array's sha256")
    info.set_defaults(func=_info)

    syn = fsub.add_parser(
        'synth', help="Write a synthetic store with the paper's dataset sizes, classes and expert dims",
        description=(
            "Write a synthetic feature store with the paper's four datasets (Kinetics-400, UCF101, HMDB51, "
            'ActivityNet: sizes, classes, mAP for ActivityNet) and expert dims (2048 TSN-R50 x3, 4096 C3D) '
            'times --scale. Features carry learnable, complementary signal (a shared class code, a '
            'different noisy view per expert, each expert best on its own dataset); expert heads are '
            'closed-form ridge fits. Streamed to disk chunk by chunk, written atomically. Scale 1: about '
            '290k rows, 5.6 GiB in float16, 11.2 GiB in float32. See jedi_repro/data/synth_store.py.'))
    syn.add_argument('--preset', default='paper', help='dataset layout (default: paper)')
    syn.add_argument('--scale', type=float, default=1.0, help='multiplies every sample count, in (0, 1]')
    syn.add_argument('--dtype', choices=['float16', 'float32'], default='float16')
    syn.add_argument('--seed', type=int, default=0)
    syn.add_argument('--out', required=True, help='store directory to create')
    syn.add_argument('--overwrite', action='store_true', help='replace an existing store')
    syn.set_defaults(func=_synth)

    register_mmaction(fsub)
    return p


def _synth(args) -> int:
    import time

    from jedi_repro.data.synth_store import preset_layout, store_bytes, synth_store
    layout = preset_layout(args.preset, args.scale)
    print(f'writing {args.out}: preset {args.preset}, scale {args.scale:g}, {args.dtype}, '
          f'{sum(sum(d["splits"].values()) for d in layout)} rows, '
          f'{store_bytes(layout, args.dtype) / 2**30:.2f} GiB of features', flush=True)
    from jedi_repro.atomic import check_free_space
    check_free_space(args.out, store_bytes(layout, args.dtype), f'jedi features synth --out {args.out}')
    t0 = time.perf_counter()
    store = synth_store(args.out, preset=args.preset, scale=args.scale, dtype=args.dtype, seed=args.seed,
                        overwrite=args.overwrite)
    print(store.summary())
    print(f'written in {time.perf_counter() - t0:.1f} s')
    return 0


def _info(args) -> int:
    from jedi_repro.data.feature_store import FeatureStore
    store = FeatureStore.open(args.store, verify_hashes=args.verify)
    print(store.summary())
    return 0


def _split_pair(text: str, what: str) -> tuple[str, str]:
    from jedi_repro.errors import JediError
    if '=' not in text:
        raise JediError(f'{what} {text!r} must look like NAME=VALUE')
    a, b = text.split('=', 1)
    if not a or not b:
        raise JediError(f'{what} {text!r} must look like NAME=VALUE')
    return a, b


def _import_npz(args) -> int:
    from jedi_repro.data.importers_npz import import_npz
    from jedi_repro.errors import JediError
    datasets = [_split_pair(t, '--dataset') for t in args.dataset]
    experts = []
    for t in args.expert:
        name, rest = _split_pair(t, '--expert')
        if ':' not in rest:
            raise JediError(f'--expert {t!r} must look like NAME=DATASET:HEAD.npz')
        ds, head = rest.split(':', 1)
        experts.append((name, ds, head))
    metrics = dict(_split_pair(t, '--metric') for t in args.metric)
    store = import_npz(args.out, datasets, experts, metrics=metrics, overwrite=args.overwrite)
    print(store.summary())
    return 0
