"""Build hook only (the project is described in pyproject.toml): ship the configs and study specs inside
the package, as ``jedi_repro/.mim/{mm_configs,studies}`` (OpenMMLab's convention; mmaction2's own setup.py
copies its configs to ``mmaction/.mim/``). ``jedi_repro.resources`` finds them there when installed, and
at the top of the checkout otherwise. Only these files are copied: no data, work dirs or caches."""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = {'mm_configs': ('*.py', '*.md', '*.txt'), 'studies': ('*.yaml', '*.md')}


def shipped_files():
    for top, patterns in SHIPPED.items():
        for pattern in patterns:
            for src in sorted((ROOT / top).rglob(pattern)):
                if '__pycache__' not in src.parts and src.is_file():
                    yield src


class BuildPyWithMim(build_py):
    """``build_py`` that also copies ``shipped_files()`` into ``build_lib/jedi_repro/.mim/``."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):  # an editable install reads the checkout itself
            return
        for src in shipped_files():
            dst = Path(self.build_lib) / 'jedi_repro' / '.mim' / src.relative_to(ROOT)
            self.mkpath(str(dst.parent))
            self.copy_file(str(src), str(dst))


setup(cmdclass={'build_py': BuildPyWithMim})
