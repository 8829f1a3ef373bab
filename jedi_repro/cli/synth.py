"""`jedi synth`: render the embedded synthetic multi-domain video benchmark."""
from __future__ import annotations


def register(sub):
    p = sub.add_parser(
        'synth', help='Render the embedded synthetic multi-domain video benchmark',
        description='Render four synthetic action datasets (Kinetics-, UCF-, HMDB- and ActivityNet-like) as '
                    'mp4 files plus MMAction2 annotation lists (train/val/test, and the labelled subset '
                    'train_labeled.txt). Deterministic for a (preset, seed).')
    p.add_argument('--out', required=True, help='output directory (the data root for experts/extract)')
    p.add_argument('--preset', default='demo', choices=['quick', 'demo'],
                   help='size: quick (tests, seconds) or demo (jedi demo, about half a minute)')
    p.add_argument('--seed', type=int, default=0, help='random seed (default 0)')
    p.add_argument('--overwrite', action='store_true', help='replace OUT if it exists')
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from jedi_repro.data.synth import generate
    generate(args.out, preset=args.preset, seed=args.seed, overwrite=args.overwrite)
    return 0
