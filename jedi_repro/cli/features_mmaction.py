"""`jedi features import-mmaction`: read MMAction2 clip_feature_extraction outputs into a feature store."""
from __future__ import annotations


def spec_help() -> str:
    """The spec format from ``jedi_repro/data/importers.py``'s docstring, as plain text: read from the source
    (importing the module would load numpy for every ``jedi --help``), reST markup removed."""
    import ast
    from pathlib import Path

    source = Path(__file__).resolve().parents[1] / 'data' / 'importers.py'
    doc = ast.get_docstring(ast.parse(source.read_text(encoding='utf-8'))) or ''
    return doc.split('::', 1)[-1].replace('``', '`')


def register(sub):
    p = sub.add_parser(
        'import-mmaction',
        help="Import per-video outputs of MMAction2's clip_feature_extraction tool (needs --trust-pickle)",
        description="Build a feature store from the per-video pickles that MMAction2's "
                    "tools/misc/clip_feature_extraction.py writes, as described by a YAML/JSON spec:\n"
                    + spec_help(),
        formatter_class=__import__('argparse').RawDescriptionHelpFormatter)
    p.add_argument('spec', help='import spec (YAML or JSON)')
    p.add_argument('--out', required=True, help='store directory to create')
    p.add_argument('--trust-pickle', action='store_true',
                   help='allow unpickling the per-video files (pickles can execute code: only for files you '
                        'trust)')
    p.add_argument('--overwrite', action='store_true', help='replace an existing store')
    p.add_argument('--float16', action='store_true', help='store features as float16')
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from jedi_repro.data.feature_store import FeatureStore
    from jedi_repro.data.importers import import_mmaction

    path = import_mmaction(args.spec, args.out, trust_pickle=args.trust_pickle, overwrite=args.overwrite,
                           feature_dtype='float16' if args.float16 else 'float32')
    print(FeatureStore.open(path).summary())
    return 0
