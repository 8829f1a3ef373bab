"""A wheel works outside the checkout: configs and study specs ship inside it (jedi_repro/.mim/)."""
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# what the build reads: a copy of only these keeps .venv, work dirs, data and build outputs out of it
SOURCES = ('pyproject.toml', 'setup.py', 'MANIFEST.in', 'README.md', 'jedi_repro', 'mm_configs', 'studies')


def _run(cmd, **kw):
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert done.returncode == 0, (cmd, done.stdout[-2000:], done.stderr[-3000:])
    return done.stdout


@pytest.mark.slow
def test_wheel_installed_in_a_fresh_venv_runs_the_quick_demo_in_an_empty_directory(tmp_path):
    """Build: ``pip wheel --no-deps --no-build-isolation --no-index`` over a copy of the sources (no
    network, the running environment's setuptools). Install: a fresh ``venv``, the wheel installed into it
    with its own ``pip install --no-deps --no-index``, and the dependencies reused from the
    running environment through a ``.pth`` file naming its site-packages (a path line only: that
    directory's own .pth files, e.g. an editable jedi_repro, are not processed, so the wheel's copy is the
    one imported; checked below). Then ``jedi demo --quick`` in an empty directory."""
    import shutil

    src = tmp_path / 'src'
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copy(path, src / name)
    _run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--no-index', '-q',
          str(src), '-w', str(tmp_path / 'wheels')])
    (wheel,) = (tmp_path / 'wheels').glob('jedi_repro-*.whl')
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n.split('.mim/', 1)[1] for n in names if '/.mim/' in n)
    assert 'mm_configs/jedi/jedi_default.py' in shipped and 'studies/ablation_gamma.yaml' in shipped
    tracked = sorted(p.relative_to(REPO).as_posix() for top in ('mm_configs', 'studies')
                     for p in (REPO / top).rglob('*') if p.suffix in ('.py', '.md', '.yaml', '.txt')
                     and '__pycache__' not in p.parts)
    assert shipped == tracked
    assert all(n.startswith(('jedi_repro/', 'jedi_repro-')) for n in names)  # nothing else in the wheel

    venv = tmp_path / 'venv'
    _run([sys.executable, '-m', 'venv', str(venv)])  # with its own pip (ensurepip's, offline)
    py = venv / 'bin' / 'python'
    site = Path(_run([str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])']).strip())
    # the venv's own pip, before the parent's site-packages is visible: pip there would see the running
    # environment's jedi_repro (same version) as installed and skip the wheel
    _run([str(py), '-m', 'pip', 'install', '--no-deps', '--no-index', '-q', str(wheel)])
    (site / '_parent_env.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')

    empty = tmp_path / 'empty'
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'MLFLOW_TRACKING_URI', 'JEDI_HOME')}
    code = 'import jedi_repro.resources as r; print(r.__file__); print(r.shipped_root())'
    where = _run([str(py), '-c', code], cwd=empty, env=env).split()
    assert where[0].startswith(str(site)) and where[1] == str(site / 'jedi_repro' / '.mim')
    out = _run([str(venv / 'bin' / 'jedi'), 'demo', '--quick'], cwd=empty, env=env, timeout=3000)
    assert 'jedi demo finished' in out
    assert (empty / 'jedi_work' / 'reports' / 'demo-quick' / 'report.md').is_file()
    assert sorted(p.name for p in empty.iterdir()) == ['jedi_work']


@pytest.mark.slow
def test_wheel_installs_with_the_locked_versions(tmp_path):
    """``pip install -c requirements.lock jedi_repro-*.whl`` (README, "Install from a wheel"): resolved
    offline against this environment, which holds the locked versions, pip installs the wheel and nothing
    else, so the wheel's requirements and every locked pin agree (a pin the wheel's metadata contradicts,
    or a dependency missing from the lock and the environment, fails the resolution)."""
    import json
    import re
    import shutil

    src = tmp_path / 'src'
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        (shutil.copytree if path.is_dir() else shutil.copy)(path, src / name)
    # a version the running environment's own jedi_repro does not have: tox installs its editable build as
    # a plain wheel, and pip skips a local wheel whose name and version are already installed (no resolution)
    pyproject = src / 'pyproject.toml'
    version = re.search(r'^version = "([^"]+)"$', pyproject.read_text(), re.M).group(1) + '+locktest'
    pyproject.write_text(re.sub(r'^version = "[^"]+"$', f'version = "{version}"', pyproject.read_text(),
                                flags=re.M))
    _run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--no-index', '-q',
          str(src), '-w', str(tmp_path / 'wheels')])
    (wheel,) = (tmp_path / 'wheels').glob('jedi_repro-*.whl')
    report = tmp_path / 'report.json'
    _run([sys.executable, '-m', 'pip', 'install', '--dry-run', '--no-index', '-q', '-c',
          str(REPO / 'requirements.lock'), '--report', str(report), str(wheel)])
    installs = [(i['metadata']['name'], i['metadata']['version'])
                for i in json.loads(report.read_text())['install']]
    assert installs == [('jedi_repro', version)], installs
