"""`jedi diagnose STORE`: does distillation help the students on this store? A short pilot, one screen."""
from __future__ import annotations


def register(sub):
    p = sub.add_parser(
        'diagnose', help='Pilot per dataset: JEDI vs gamma=0 on validation, a few seeds (minutes)',
        description='Check which datasets of the store can be assessed (before any training; a multi-label '
                    'dataset, one with fewer than two classes or without a validation split is skipped and '
                    'named), then train JEDI and the same with gamma=0 (no distillation) for each pilot '
                    'seed at the regime maps\' budget, and print per dataset the students\' validation '
                    'top-1 gain JEDI minus gamma=0. Works on any store JEDI trains on, fully labelled '
                    'included. The screen states how well this estimate predicted the measured test gain '
                    'on the regime maps (reports/regimes_overlap/README.md, "Diagnostic").')
    p.add_argument('store', help='feature store directory')
    p.add_argument('--config', help='JEDI config (default mm_configs/jedi/jedi_default.py; its gamma is '
                                    "JEDI's)")
    p.add_argument('--seeds', default='0,1', help='comma-separated pilot seeds (default 0,1: the validated '
                                                  'pilot)')
    p.add_argument('--work-dir', help='where the pilot runs go (default $JEDI_HOME/diagnose/<store hash>; '
                                      'finished runs there are reused)')
    p.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE', default=[],
                   help='overrides of both pilot variants (e.g. train_cfg.max_epochs=5 for a quicker, '
                        'unvalidated pilot)')
    p.add_argument('--json', metavar='FILE', help='also write the numbers as JSON')
    p.set_defaults(func=run)
    return p


def _seeds(text: str) -> list[int]:
    from jedi_repro.errors import JediError
    try:
        return [int(s) for s in text.split(',') if s.strip()]
    except ValueError:
        raise JediError(f'--seeds {text!r}: expected comma-separated integers, e.g. 0,1') from None


def run(args) -> int:
    import json
    from pathlib import Path

    from jedi_repro.benchmarks.yt8m import _atomic_write
    from jedi_repro.cli.train import parse_cfg_options
    from jedi_repro.engine.diagnose import format_screen, load_validation, pilot
    res = pilot(args.store, work_dir=args.work_dir, config=args.config, seeds=_seeds(args.seeds),
                cfg_options=parse_cfg_options(args.cfg_options), log=lambda m: print(m, flush=True))
    print(format_screen(res, load_validation()))
    if args.json:
        _atomic_write(Path(args.json), json.dumps(res, indent=1))
    return 0
