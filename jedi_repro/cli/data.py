"""`jedi data`: turn your own videos' MMAction2 annotation lists into a data root."""
from __future__ import annotations


def register(sub):
    p = sub.add_parser('data', help='Turn MMAction2 annotation lists of your own videos into a data root',
                       description='Prepare your own video datasets for `jedi experts train` and '
                                   '`jedi extract`.')
    dsub = p.add_subparsers(dest='data_command', metavar='ACTION', required=True)
    i = dsub.add_parser(
        'init', help='Write benchmark.json and <dataset>/dataset.json from ROOT/<dataset>/{train,val}.txt',
        description='Read ROOT/<dataset>/{train,val,test}.txt (MMAction2 lists: "videos/x.mp4 LABEL" per '
                    'line, paths relative to ROOT/<dataset>/; test.txt optional), an optional '
                    'ROOT/<dataset>/classes.txt (class name of label i on line i+1; default: the labels '
                    'themselves) and an optional ROOT/<dataset>/train_labeled.txt (the labelled subset of '
                    'train.txt; default: every train clip labelled). Checks every line (format, label range, '
                    'a video twice, a video in two splits) and every video (exists, decodes), then writes '
                    'ROOT/benchmark.json and ROOT/<dataset>/dataset.json. On any problem nothing is written.')
    i.add_argument('root', help='directory with one subdirectory per dataset')
    i.add_argument('--datasets', nargs='+', metavar='NAME',
                   help='datasets in this order (default: every subdirectory with a train.txt, sorted)')
    i.add_argument('--metric', nargs='+', default=[], metavar='DATASET=top1|mAP',
                   help='the metric reports show for a dataset (default top1; mAP as for ActivityNet)')
    i.add_argument('--check-videos', choices=['decode', 'exists', 'none'], default='decode',
                   help='decode (default): every video opens and decodes; exists: files only; none')
    i.add_argument('--overwrite', action='store_true',
                   help='replace a benchmark.json another tool (e.g. `jedi synth`) wrote')
    i.set_defaults(func=run_init)
    return p


def run_init(args) -> int:
    import json

    from jedi_repro.errors import JediError
    from jedi_repro.experts.data_init import init_data_root

    metrics = {}
    for item in args.metric:
        name, sep, metric = item.partition('=')
        if not sep:
            raise JediError(f'--metric {item!r}: expected DATASET=top1|mAP')
        metrics[name] = metric
    result = init_data_root(args.root, datasets=args.datasets, metrics=metrics,
                            check_videos=args.check_videos, overwrite=args.overwrite)
    print(json.dumps(result, indent=1))
    return 0
