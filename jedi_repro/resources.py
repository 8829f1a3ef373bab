"""The configs and study specs that ship with jedi_repro, found the same way in a checkout and installed.

In a source checkout they are ``mm_configs/`` and ``studies/`` next to the package. A built wheel carries
copies under ``jedi_repro/.mim/`` (OpenMMLab's convention: mmaction2 ships its model-zoo configs as
``mmaction/.mim/configs``; ``setup.py`` copies them at build time). Code asks this module, never
``Path(__file__).parents[...]``, so ``pip install jedi_repro`` then ``jedi demo`` works in any directory.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: the shipped top-level directories (copied into the wheel by setup.py)
SHIPPED = ('mm_configs', 'studies')


def shipped_root() -> Path:
    """The directory holding ``mm_configs/`` and ``studies/``: the checkout (``pyproject.toml`` beside
    the package), else the installed package's ``.mim/``."""
    checkout = PACKAGE_DIR.parent
    if (checkout / 'pyproject.toml').is_file() and all((checkout / d).is_dir() for d in SHIPPED):
        return checkout
    return PACKAGE_DIR / '.mim'


def config_path(*parts: str) -> Path:
    """A shipped config (or config directory), e.g. ``config_path('jedi', 'jedi_default.py')``."""
    return shipped_root().joinpath('mm_configs', *parts)


def study_path(*parts: str) -> Path:
    """A shipped study spec, e.g. ``study_path('ablation_gamma.yaml')``."""
    return shipped_root().joinpath('studies', *parts)


def shipped(relative: str | Path) -> Path:
    """``mm_configs/...`` or ``studies/...`` (as written in specs and docs) -> the shipped file."""
    return shipped_root() / Path(relative)


def locate(path: str | Path) -> Path:
    """``path`` if it exists; else, for a relative ``mm_configs/...`` or ``studies/...`` path, the shipped
    file (so ``jedi train mm_configs/jedi/jedi_default.py`` works in any directory); else ``path``."""
    path = Path(path)
    if path.exists() or path.is_absolute() or not path.parts or path.parts[0] not in SHIPPED:
        return path
    candidate = shipped(path)
    return candidate if candidate.exists() else path
