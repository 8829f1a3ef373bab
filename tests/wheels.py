"""Build the project's wheel from a copy of its sources and install it into a fresh venv (the e2e tests)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# what the build reads: a copy of only these keeps .venv, work dirs, data and build outputs out of it
SOURCES = ('pyproject.toml', 'setup.py', 'MANIFEST.in', 'README.md', 'jedi_repro', 'mm_configs', 'studies')


def run(cmd, **kw) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert done.returncode == 0, (cmd, done.stdout[-2000:], done.stderr[-3000:])
    return done.stdout


def copy_sources(dest: Path) -> Path:
    dest.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, dest / name, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copy(path, dest / name)
    return dest


def build_wheel(src: Path, out: Path) -> Path:
    """``pip wheel --no-deps --no-build-isolation --no-index``: no network, the running environment's
    setuptools."""
    run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--no-index', '-q',
         str(src), '-w', str(out)])
    (wheel,) = out.glob('jedi_repro-*.whl')
    return wheel


def install_in_fresh_venv(wheel: Path, venv: Path) -> Path:
    """A fresh ``venv`` with the wheel installed by its own ``pip install --no-deps --no-index``, and the
    dependencies reused from the running environment through a ``.pth`` file naming its site-packages (a
    path line only: that directory's own .pth files, e.g. an editable jedi_repro, are not processed, so the
    wheel's copy is the one imported). Returns the venv's site-packages."""
    run([sys.executable, '-m', 'venv', str(venv)])  # with its own pip (ensurepip's, offline)
    py = venv / 'bin' / 'python'
    site = Path(run([str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])']).strip())
    # the venv's own pip, before the parent's site-packages is visible: pip there would see the running
    # environment's jedi_repro (same version) as installed and skip the wheel
    run([str(py), '-m', 'pip', 'install', '--no-deps', '--no-index', '-q', str(wheel)])
    (site / '_parent_env.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    return site
