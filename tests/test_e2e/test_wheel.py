"""A wheel works outside the checkout: configs and study specs ship inside it (jedi_repro/.mim/), and its
requirements agree with the lock. (`test_demo.py` runs the quick demo from a wheel in a fresh venv.)"""
import json
import re
import sys
import zipfile

import pytest
from wheels import REPO, build_wheel, copy_sources, run


@pytest.mark.slow
def test_wheel_ships_the_configs_and_installs_with_the_locked_versions(tmp_path):
    """``pip install -c requirements.lock jedi_repro-*.whl`` (README, "Install from a wheel"): resolved
    offline against this environment, which holds the locked versions, pip installs the wheel and nothing
    else, so the wheel's requirements and every locked pin agree (a pin the wheel's metadata contradicts,
    or a dependency missing from the lock and the environment, fails the resolution)."""
    src = copy_sources(tmp_path / 'src')
    # a version the running environment's own jedi_repro does not have: tox installs its editable build as
    # a plain wheel, and pip skips a local wheel whose name and version are already installed (no resolution)
    pyproject = src / 'pyproject.toml'
    version = re.search(r'^version = "([^"]+)"$', pyproject.read_text(), re.M).group(1) + '+locktest'
    pyproject.write_text(re.sub(r'^version = "[^"]+"$', f'version = "{version}"', pyproject.read_text(),
                                flags=re.M))
    wheel = build_wheel(src, tmp_path / 'wheels')
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n.split('.mim/', 1)[1] for n in names if '/.mim/' in n)
    assert 'mm_configs/jedi/jedi_default.py' in shipped and 'studies/ablation_gamma.yaml' in shipped
    tracked = sorted(p.relative_to(REPO).as_posix() for top in ('mm_configs', 'studies')
                     for p in (REPO / top).rglob('*') if p.suffix in ('.py', '.md', '.yaml', '.txt')
                     and '__pycache__' not in p.parts)
    assert shipped == tracked
    assert all(n.startswith(('jedi_repro/', 'jedi_repro-')) for n in names)  # nothing else in the wheel
    report = tmp_path / 'report.json'
    run([sys.executable, '-m', 'pip', 'install', '--dry-run', '--no-index', '-q', '-c',
         str(REPO / 'requirements.lock'), '--report', str(report), str(wheel)])
    installs = [(i['metadata']['name'], i['metadata']['version'])
                for i in json.loads(report.read_text())['install']]
    assert installs == [('jedi_repro', version)], installs
