"""README "Your own videos", run as written: lists -> jedi data init -> 3-line expert child configs ->
jedi experts train -> jedi extract -> jedi train -> jedi study run -> jedi report, on a tiny rendered set."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MARKER = '<!-- walkthrough: your own videos -->'


def readme_walkthrough() -> str:
    """The bash block after the walkthrough marker in README.md."""
    text = (REPO / 'README.md').read_text()
    after = text.split(MARKER, 1)[1]
    m = re.search(r'```bash\n(.*?)\n```', after, re.S)
    assert m, f'no ```bash block after {MARKER} in README.md'
    return m.group(1)


def render_lists(out: Path) -> None:
    """Two tiny datasets as a user brings them: lists, videos, classes.txt or train_labeled.txt; no JSON."""
    from jedi_repro.data.synth import generate
    from jedi_repro.data.synth.datasets import get_dataset

    src = generate(out.parent / 'rendered', 'quick', seed=0, log=None,
                   datasets=(get_dataset('hmdb_like'), get_dataset('ucf_like')))
    for name, synth_name in (('walks', 'hmdb_like'), ('waves', 'ucf_like')):
        shutil.copytree(src / synth_name, out / name)
        meta = json.loads((out / name / 'dataset.json').read_text())
        (out / name / 'dataset.json').unlink()
        if name == 'walks':  # class names from classes.txt, every train clip labelled
            (out / name / 'classes.txt').write_text('\n'.join(meta['classes']) + '\n')
            (out / name / 'train_labeled.txt').unlink()
    shutil.rmtree(src)


@pytest.mark.slow
def test_your_own_videos_walkthrough_as_written(tmp_path):
    render_lists(tmp_path / 'my_videos')
    env = {k: v for k, v in os.environ.items() if k != 'MLFLOW_TRACKING_URI'}
    env.update(JEDI_HOME=str(tmp_path / 'ws'), OMP_NUM_THREADS='1', MPLBACKEND='Agg',
               PATH=f'{Path(sys.executable).parent}{os.pathsep}{env.get("PATH", "")}')
    # xtrace with a timestamp per command gives each step's wall time (bash ignores PS4 from the
    # environment when run as root, so it is set in the script, before the README's block)
    script = "PS4='+ $EPOCHREALTIME '\nset -x\n" + readme_walkthrough()
    done = subprocess.run(['bash', '-euo', 'pipefail', '-c', script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=3000)
    assert done.returncode == 0, done.stderr[-4000:]
    _print_step_times(done.stderr, time.time())

    store = json.loads((tmp_path / 'my_store' / 'manifest.json').read_text())
    assert [d['name'] for d in store['datasets']] == ['walks', 'waves']
    assert sorted(e['name'] for e in store['experts']) == ['expert_walks', 'expert_waves']
    assert store['datasets'][0]['classes'][:2] == ['approach', 'retreat']  # from walks/classes.txt
    for ds in ('walks', 'waves'):  # each expert trained on its own dataset, with its class count
        exp = tmp_path / 'ws' / 'work_dirs' / 'experts' / f'expert_{ds}' / 'expert.json'
        exp = json.loads(exp.read_text())
        assert exp['dataset'] == ds and 0.0 <= exp['test']['acc/top1'] <= 1.0
    metrics = json.loads((tmp_path / 'my_run' / 'metrics.json').read_text())
    assert list(metrics['datasets']) == ['walks', 'waves'] and metrics['mean']['teacher']['top1'] >= 0
    report = (tmp_path / 'my_report' / 'report.md').read_text()
    assert '## Main results' in report and 'walks' in report and 'waves' in report


def _print_step_times(xtrace: str, end: float) -> None:
    """Print each `jedi ...` command of the walkthrough with its wall time (shown with pytest -s)."""
    steps = [(float(m.group(1)), m.group(2)) for m in re.finditer(r'^\++ (\d+\.\d+) (.*)$', xtrace, re.M)]
    for (t, cmd), (t_next, _) in zip(steps, steps[1:] + [(end, '')]):
        if cmd.startswith('jedi '):
            print(f'{t_next - t:7.1f} s  {cmd}')
