"""The `jedi` command line: help for every stage, clean errors, workspace resolution."""
import subprocess
import sys

import pytest

from jedi_repro import workspace
from jedi_repro.cli import COMMANDS, build_parser, main
from jedi_repro.errors import JediError


def test_help_lists_every_stage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(['--help'])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


@pytest.mark.parametrize('name', COMMANDS)
def test_every_stage_has_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, '--help'])
    assert exc.value.code == 0
    assert f'jedi {name}' in capsys.readouterr().out


def test_jedi_error_is_one_paragraph_and_exit_1(monkeypatch, capsys):
    parser = build_parser()

    def boom(args):
        raise JediError('features/x.npy: expected 512 columns, found 256')

    args = parser.parse_args(['ui'])
    monkeypatch.setattr(args, 'func', boom)
    monkeypatch.setattr('jedi_repro.cli.build_parser', lambda: _FixedParser(args))
    assert main(['ui']) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: features/x.npy')
    assert 'Traceback' not in err


class _FixedParser:
    def __init__(self, args):
        self.args = args

    def parse_args(self, argv):
        return self.args


def test_console_entry_point_runs():
    out = subprocess.run([sys.executable, '-m', 'jedi_repro.cli', '--help'],
                         capture_output=True, text=True, check=True).stdout
    assert 'pipeline:' in out


def test_workspace_root_follows_jedi_home(tmp_path, monkeypatch):
    monkeypatch.setenv('JEDI_HOME', str(tmp_path / 'ws'))
    assert workspace.root() == (tmp_path / 'ws').resolve()
    assert workspace.mlflow_uri() == 'sqlite:///' + str((tmp_path / 'ws' / 'mlflow' / 'mlflow.db').resolve())
    assert workspace.journal_path('abl').name == 'abl.journal'
    monkeypatch.delenv('JEDI_HOME')
    monkeypatch.chdir(tmp_path)
    assert workspace.root() == (tmp_path / 'jedi_work').resolve()


def test_mlflow_uri_env_wins(monkeypatch):
    monkeypatch.setenv('MLFLOW_TRACKING_URI', 'http://127.0.0.1:5000')
    assert workspace.mlflow_uri() == 'http://127.0.0.1:5000'



def test_help_and_argument_errors_do_not_load_the_ml_stack():
    """`jedi --help`, a subcommand's help and an argument error parse without torch, mmengine, numpy
    (start-up time is measured by benchmarks/bench_cli_startup.py, not asserted here)."""
    import subprocess
    import sys

    probe = ('import sys, contextlib, io\nfrom jedi_repro.cli import main\n'
             'for argv in (["--help"], ["train", "--help"], ["features", "import-mmaction", "--help"],\n'
             '             ["train"]):\n'
             '    out, err = io.StringIO(), io.StringIO()\n'
             '    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):\n'
             '        try:\n            main(argv)\n        except SystemExit:\n            pass\n'
             'heavy = ("torch", "mmengine", "numpy", "mlflow", "optuna")\n'
             'print(sorted(m for m in heavy if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == '[]', out


def test_mmengine_fixes_apply_when_mmengine_is_imported_later():
    import subprocess
    import sys

    probe = ('import sys, jedi_repro\nassert "mmengine" not in sys.modules\n'
             'from mmengine.config import Config\n'
             'print(getattr(Config.pretty_text.fget, "keeps_interrupts", False))')
    out = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == 'True', out


def test_ui_and_server_are_quiet_unless_verbose():
    from jedi_repro.cli.ui import mlflow_command
    from jedi_repro.tracking.server import server_command

    assert mlflow_command('127.0.0.1', 5000)[-2:] == ['--uvicorn-opts', '--no-access-log']
    assert '--no-access-log' not in mlflow_command('127.0.0.1', 5000, access_log=True)
    assert server_command('sqlite:///x.db', '/tmp/a')[-1] == '--no-access-log'


def test_help_texts_say_what_each_command_means(capsys):
    import pytest

    from jedi_repro.cli import build_parser

    def helptext(*argv):
        with pytest.raises(SystemExit):
            build_parser().parse_args([*argv, '--help'])
        return ' '.join(capsys.readouterr().out.split())

    assert 'best trials by the validation objective' in helptext('study', 'status')
    assert 'mmengine' not in helptext('ui') and 'HTTP request' in helptext('ui')
    assert 'mmengine' not in helptext('server') and 'mmengine' not in helptext('features', 'info')
    mm = helptext('features', 'import-mmaction')
    assert '``' not in mm and 'datasets:' in mm
    assert 'build_features' not in helptext('extract')
    assert 'installed package' in helptext('bench', 'yt8m')
