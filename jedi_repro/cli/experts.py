"""`jedi experts`: train MMAction2 expert recognizers, one per dataset."""
from __future__ import annotations


def register(sub):
    p = sub.add_parser('experts', help='Train MMAction2 expert recognizers, one per dataset',
                       description='Train MMAction2 experts, each on its own dataset only.')
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
    return p


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
