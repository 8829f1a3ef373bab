"""`jedi extract`: run the frozen experts over every dataset into a feature store."""
from __future__ import annotations


def register(sub):
    p = sub.add_parser(
        'extract', help='Run the frozen experts over every dataset into a feature store',
        description='Run every expert over every dataset and split of a data root (n x n blocks) and write '
                    'a feature store: penultimate features (input of the head\'s last Linear), each '
                    'expert\'s head, labels and the labelled mask. Blocks are cached under '
                    '$JEDI_HOME/cache/extract (keyed by config, checkpoint sha256 and the data list).')
    p.add_argument('--data-root', default=None,
                   help='data root written by `jedi data init` (your own videos) or `jedi synth` (default '
                        '$JEDI_HOME/synth/demo-s0, where `jedi demo` renders the synthetic benchmark)')
    p.add_argument('--experts', nargs='+', metavar='CONFIG[=CHECKPOINT]',
                   help='expert configs, optionally with a checkpoint (default: every '
                        'mm_configs/experts/*.py '
                        'with the expert.pth that `jedi experts train` exported), or the name of an '
                        'imported published expert (e.g. i3d-kinetics400, after `jedi experts import`)')
    p.add_argument('--out', required=True, help='feature store directory to create')
    p.add_argument('--overwrite', action='store_true', help='replace an existing store')
    p.add_argument('--skip-bad-videos', action='store_true',
                   help='leave missing/corrupt videos out of every block (counted and reported) instead of '
                        'failing')
    p.add_argument('--bf16', action='store_true',
                   help='bf16 autocast (opt-in: measured 1.1-1.3x on X3D/R(2+1)D, slower on R3D/TSM; '
                        'features within 5%% relative error, tested)')
    p.add_argument('--channels-last', choices=['auto', 'on', 'off'], default='auto',
                   help='channels-last conv weights: auto = for 3D-CNN experts only (measured 1.2-1.4x '
                        'faster, features equal to ~1e-6); on; off')
    p.add_argument('--float16', action='store_true', help='store features as float16 (half the disk)')
    p.add_argument('--batch-size', type=int, default=16, help='clips per forward pass (default 16)')
    p.add_argument('--no-cache', action='store_true', help='recompute every block and do not fill the cache')
    p.add_argument('--launcher', choices=['none', 'pytorch'], default='none',
                   help='pytorch: one process of `torchrun --nproc_per_node N -m jedi_repro.cli extract ... '
                        '--launcher pytorch`: the ranks split the blocks, write them as parts beside --out, '
                        'and rank 0 assembles the store (a rerun reuses finished parts; see '
                        'jedi_repro/experts/extract_dist.py)')
    p.add_argument('--workers', default='auto',
                   help="DataLoader worker processes decoding ahead of the forward pass (default 'auto': "
                        "up to 4 with a GPU, 0 on CPU, where decoding competes with the forward pass)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    import json

    from jedi_repro import workspace
    from jedi_repro.experts.extract import extract, parse_expert_arg

    data_root = args.data_root or str(workspace.path('synth', 'demo-s0'))
    if args.launcher == 'pytorch':
        from jedi_repro.experts.extract_dist import extract_distributed
        result = extract_distributed(
            data_root, args.out, expert_args=args.experts, overwrite=args.overwrite,
            skip_bad_videos=args.skip_bad_videos, bf16=args.bf16, batch_size=args.batch_size,
            channels_last={'auto': 'auto', 'on': True, 'off': False}[args.channels_last],
            feature_dtype='float16' if args.float16 else 'float32')
        if result is not None:
            print(json.dumps(result, indent=1))
        return 0
    experts = [parse_expert_arg(e) for e in args.experts] if args.experts else None
    result = extract(data_root, args.out, experts=experts, skip_bad_videos=args.skip_bad_videos,
                     bf16=args.bf16, use_cache=not args.no_cache,
                     channels_last={'auto': 'auto', 'on': True, 'off': False}[args.channels_last],
                     overwrite=args.overwrite, feature_dtype='float16' if args.float16 else 'float32',
                     batch_size=args.batch_size, num_workers=_workers(args.workers))
    print(json.dumps(result, indent=1))
    return 0


def _workers(value: str) -> int | str:
    from jedi_repro.errors import JediError
    if value == 'auto':
        return value
    if not value.isdigit():
        raise JediError(f"--workers {value!r}: expected 'auto' or a number >= 0")
    return int(value)
