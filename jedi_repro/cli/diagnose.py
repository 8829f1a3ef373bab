"""`jedi diagnose STORE`: can JEDI's distillation help on this feature store? One screen per dataset."""
from __future__ import annotations


def register(sub):
    p = sub.add_parser(
        'diagnose', help='Estimate per dataset whether distillation can help on a feature store (~1 min)',
        description='Train the students and teachers briefly with gamma=0 (no distillation), then per '
                    'dataset: headroom = teacher minus student top-1 on validation, and transferability = '
                    "how well a linear probe on the student's own expert features, fit to the teacher's "
                    'predictions on the unlabelled train samples, reproduces the teacher on validation. '
                    'The KD estimate is the probe\'s top-1 minus the student\'s. How well it ranks the '
                    'measured KD gain on real features: reports/regimes/README.md.')
    p.add_argument('store', help='feature store directory')
    p.add_argument('--config', help='JEDI config of the short run (default mm_configs/jedi/jedi_default.py)')
    p.add_argument('--seed', type=int, default=0, help='seed of the short run (default 0)')
    p.add_argument('--work-dir', help='where the short run goes (default $JEDI_HOME/diagnose/<store hash>/'
                                      'seed_<seed>; a finished run there is reused)')
    p.add_argument('--json', metavar='FILE', help='also write the numbers as JSON')
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    import json
    from pathlib import Path

    from jedi_repro.engine.diagnose import diagnose, format_screen
    res = diagnose(args.store, work_dir=args.work_dir, config=args.config, seed=args.seed,
                   log=lambda m: print(m, flush=True))
    print(format_screen(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0
