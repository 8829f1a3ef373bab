"""jedi_repro.resources: shipped configs and specs found in the checkout (the wheel case: test_e2e)."""
from pathlib import Path

from jedi_repro import resources

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / 'mm_configs' / 'jedi' / 'jedi_default.py'


def test_checkout_paths_and_locate(tmp_path, monkeypatch):
    assert resources.shipped_root() == REPO
    assert resources.config_path('jedi', 'jedi_default.py') == DEFAULT
    assert resources.study_path('fusion.yaml').is_file()
    monkeypatch.chdir(tmp_path)  # outside the checkout a relative shipped path still resolves
    assert resources.locate('mm_configs/jedi/jedi_default.py') == DEFAULT
    assert resources.locate('studies/nope.yaml') == Path('studies/nope.yaml')  # missing: unchanged
    (tmp_path / 'mm_configs').mkdir()
    (tmp_path / 'mm_configs' / 'mine.py').write_text('x = 1\n')
    assert resources.locate('mm_configs/mine.py') == Path('mm_configs/mine.py')  # the user's file first


def test_installed_layout_without_checkout(tmp_path, monkeypatch):
    pkg = tmp_path / 'site' / 'jedi_repro'
    (pkg / '.mim' / 'mm_configs').mkdir(parents=True)
    monkeypatch.setattr(resources, 'PACKAGE_DIR', pkg)
    assert resources.shipped_root() == pkg / '.mim'
    assert resources.config_path('x.py') == pkg / '.mim' / 'mm_configs' / 'x.py'
