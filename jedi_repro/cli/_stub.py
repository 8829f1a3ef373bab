"""Placeholder for stages that are not built yet: they say so and exit 2, never pretend."""
from __future__ import annotations

import sys


def not_built(stage: str):
    def run(args) -> int:
        print(f'jedi {stage}: this stage is not implemented yet in this version of jedi_repro.',
              file=sys.stderr)
        return 2
    return run


def register_stub(sub, name: str, help_text: str):
    p = sub.add_parser(name, help=f'{help_text} [not implemented yet]',
                       description=f'{help_text}. Not implemented yet: exits with status 2.')
    p.set_defaults(func=not_built(name))
    return p
