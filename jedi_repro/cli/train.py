"""`jedi train`: train JEDI students and teachers on a feature store."""
from __future__ import annotations

import argparse


def register(sub):
    p = sub.add_parser(
        'train', help='Train JEDI students and teachers on a feature store',
        description='Train JEDI (or, with a config without JEDIDistillHook, the student fine-tuning '
                    'baseline) on a feature store; writes WORK_DIR/metrics.json, mmengine logs and the best '
                    'checkpoint.', formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='example:\n  jedi train mm_configs/jedi/jedi_default.py --features jedi_work/features/toy '
               '--work-dir jedi_work/work_dirs/run1 --cfg-options model.gamma=0.2 train_cfg.max_epochs=5')
    p.add_argument('config', help='config file, e.g. mm_configs/jedi/jedi_default.py')
    p.add_argument('--features', required=True, help='feature store directory')
    p.add_argument('--work-dir', required=True, help='run directory (created)')
    p.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                   help='override config keys, e.g. model.fusion.type=mean data.labeled_fraction=0.1; '
                        'an unknown key is an error')
    p.add_argument('--seed', type=int, default=None, help='overrides randomness.seed')
    p.set_defaults(func=_run)
    return p


def parse_cfg_options(items) -> dict:
    """``['a.b=1', 'c=[1,2]']`` -> ``{'a.b': 1, 'c': [1, 2]}`` (mmengine's ``DictAction`` value rules)."""
    from mmengine.config import DictAction

    from jedi_repro.errors import JediError
    out = {}
    for item in items:
        if '=' not in item:
            raise JediError(f'--cfg-options {item!r} must look like KEY=VALUE')
        key, val = item.split('=', 1)
        out[key] = DictAction._parse_iterable(val)
    return out


def _run(args) -> int:
    from jedi_repro.engine.train import train
    m = train(args.config, features=args.features, work_dir=args.work_dir,
              cfg_options=parse_cfg_options(args.cfg_options), seed=args.seed)
    print(f'metrics.json written to {args.work_dir}')
    for role in ('expert', 'student', 'teacher'):
        vals = '  '.join(f'{k} {v:.4f}' for k, v in m['mean'][role].items())
        print(f'  mean {role:8s} {vals}')
    return 0
