"""``jedi extract`` vs MMAction2's own ``tools/misc/clip_feature_extraction.py``, same videos, same expert.

Both run as the commands a user would type, one after the other in this run (the order alternates over
``--repeats``), on the same rendered videos (one dataset of ``jedi synth --preset quick`` by default: the
Kinetics-like set, 160 videos of 8 x 32 x 32 frames, each list repeated ``--list-repeat`` times so that
the clips, not interpreter start-up, dominate; or ``--data-root``) with the same expert config and
checkpoint (``mm_configs/experts/r3d18_kinetics_like.py`` with random initial weights saved to a
weights-only file: speed does not depend on training). Wall time covers the whole command (interpreter
start, imports, model build, every clip; ``jedi extract`` also checks every video decodes first and
writes a feature store; the tool writes one pickle per video).

* MMAction2's tool is run from the installed package (``mmaction/.mim/tools/misc/``) with
  ``jedi_repro.compat`` applied first (the 1.2.0 wheel cannot import ``mmaction.models`` on its own:
  ../shared/STACK.md), once as shipped (the config's ``test_dataloader``: ``num_workers=0`` here) and once
  with ``--cfg-options test_dataloader.num_workers=W`` (the same decoding workers ``jedi extract`` uses).
* ``jedi extract --no-cache`` with ``--workers 0`` (its time split: decode vs forward, from the run's own
  counters) and ``--workers W``.

One JSON line per variant with clips/s, and a summary line with the ratios (``jedi extract`` clips/s over
the tool's). ``--quick``: 24 clips, one repeat, no list repetition.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/bench_extract_vs_mmaction.py [--repeats 2] [--workers 1]
        [--config CFG] [--checkpoint CKPT] [--data-root ROOT --dataset NAME] [--max-videos N]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / 'mm_configs' / 'experts' / 'r3d18_kinetics_like.py'
TOOL_RUNNER = ('import sys, runpy, jedi_repro; tool = sys.argv[1]; sys.argv = sys.argv[1:]; '
               'runpy.run_path(tool, run_name="__main__")')


def mmaction_tool() -> Path:
    import mmaction
    path = Path(mmaction.__file__).parent / '.mim' / 'tools' / 'misc' / 'clip_feature_extraction.py'
    if not path.is_file():
        sys.exit(f'error: {path} not found (is mmaction2 installed from its wheel?)')
    return path


def random_checkpoint(config: Path, out: Path) -> Path:
    """The expert's model with its initial weights, saved weights-only (as `jedi experts train` exports)."""
    import torch
    from mmaction.utils import register_all_modules
    from mmengine.registry import MODELS

    from jedi_repro.experts.config import load_expert_config
    register_all_modules(init_default_scope=True)
    torch.manual_seed(0)
    model = MODELS.build(load_expert_config(config).model)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, out)
    return out


def one_dataset_root(data_root: Path, dataset: str, out: Path, max_videos: int | None,
                     list_repeat: int = 1) -> tuple[Path, Path, int]:
    """A data root holding only ``dataset`` (train/val/test lists cut to ``max_videos`` in all, each list
    repeated ``list_repeat`` times: more clips per process start), and the concatenated list the MMAction2
    tool reads. Returns (root, list, clips)."""
    src = data_root / dataset
    meta = json.loads((src / 'dataset.json').read_text())
    dst = out / dataset
    dst.mkdir(parents=True)
    left = max_videos if max_videos else 10 ** 9
    everything = []
    for info in meta['splits'].values():
        lines = (src / info['list']).read_text().splitlines()[:max(left, 2)]
        left = max(left - len(lines), 0)
        lines = lines * list_repeat
        (dst / info['list']).write_text('\n'.join(lines) + '\n')
        info['n'] = len(lines)
        everything += lines
    meta['labeled_list'] = None
    meta['video_prefix'] = str(src.resolve() / meta.get('video_prefix', '.'))
    (dst / 'dataset.json').write_text(json.dumps(meta))
    (out / 'benchmark.json').write_text(json.dumps({'format': 'jedi-data-root', 'datasets': [dataset]}))
    (out / 'all.txt').write_text('\n'.join(everything) + '\n')
    return out, out / 'all.txt', len(everything)


def timed(cmd: list[str], env: dict) -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        sys.exit(f'error: {" ".join(cmd[:6])} ... failed ({out.returncode}):\n{out.stderr[-3000:]}')
    return wall, out.stdout


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--config', type=Path, default=DEFAULT_CONFIG)
    p.add_argument('--checkpoint', type=Path, default=None, help='default: random initial weights')
    p.add_argument('--data-root', type=Path, default=None, help='default: `jedi synth --preset quick`')
    p.add_argument('--dataset', default=None, help="the config's dataset_name by default")
    p.add_argument('--max-videos', type=int, default=None)
    p.add_argument('--list-repeat', type=int, default=10,
                   help='each split list names its videos this many times (the demo clips are tiny: without '
                        'it, interpreter start and imports dominate both commands)')
    p.add_argument('--repeats', type=int, default=2)
    p.add_argument('--workers', type=int, default=1, help='decoding workers of the parallel variants')
    p.add_argument('--threads', type=int, default=int(os.environ.get('OMP_NUM_THREADS', '1')))
    p.add_argument('--quick', action='store_true', help='24 clips, one repeat (smoke test)')
    args = p.parse_args(argv)
    if args.quick:
        args.max_videos, args.repeats, args.list_repeat = args.max_videos or 24, 1, 1
    from jedi_repro.experts.config import load_expert_config
    cfg = load_expert_config(args.config)
    dataset = args.dataset or cfg.dataset_name
    with tempfile.TemporaryDirectory(prefix='jedi_bench_extract_') as tmp:
        tmp = Path(tmp)
        path = os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]).rstrip(os.pathsep)
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), JEDI_HOME=str(tmp / 'ws'), PYTHONPATH=path)
        data_root = args.data_root
        if data_root is None:
            from jedi_repro.data.synth.generate import generate
            data_root = tmp / 'synth'
            generate(data_root, preset='quick', seed=0)
        root, all_list, clips = one_dataset_root(data_root, dataset, tmp / 'root', args.max_videos,
                                                 args.list_repeat)
        ckpt = args.checkpoint or random_checkpoint(args.config, tmp / 'expert.pth')
        video_root = json.loads((root / dataset / 'dataset.json').read_text())['video_prefix']
        tool = mmaction_tool()

        def run_tool(workers: int | None, i: int) -> dict:
            cmd = [sys.executable, '-c', TOOL_RUNNER, str(tool), str(args.config), str(ckpt),
                   str(tmp / f'tool_{i}'), '--video-list', str(all_list), '--video-root', video_root]
            if workers is not None:
                cmd += ['--cfg-options', f'test_dataloader.num_workers={workers}']
            wall, _ = timed(cmd, env)
            n = len(list((tmp / f'tool_{i}').rglob('*.pkl')))  # one per distinct video
            if n != len(set(all_list.read_text().split()[::2])):
                sys.exit(f'error: the MMAction2 tool wrote {n} feature files for {clips} clips')
            return dict(wall_s=wall)

        def run_jedi(workers: int, i: int) -> dict:
            cmd = [sys.executable, '-m', 'jedi_repro.cli', 'extract', '--data-root', str(root), '--experts',
                   f'{args.config}={ckpt}', '--out', str(tmp / f'store_{i}'), '--no-cache', '--workers',
                   str(workers)]
            wall, out = timed(cmd, env)
            res = json.loads(out[out.index('{'):])
            return dict(wall_s=wall, **{k: res[k] for k in ('check_s', 'data_s', 'forward_s', 'wall_s')
                                        if k != 'wall_s'}, extract_call_s=res['wall_s'])

        variants = {'mmaction_tool': lambda i: run_tool(None, i),
                    f'mmaction_tool_workers{args.workers}': lambda i: run_tool(args.workers, i),
                    'jedi_extract_workers0': lambda i: run_jedi(0, i),
                    f'jedi_extract_workers{args.workers}': lambda i: run_jedi(args.workers, i)}
        results: dict[str, list[dict]] = {k: [] for k in variants}
        i = 0
        for r in range(args.repeats):
            for name in (list(variants) if r % 2 == 0 else list(variants)[::-1]):
                results[name].append(variants[name](i))
                i += 1
    config = args.config.resolve()
    inputs = dict(config=str(config.relative_to(ROOT) if config.is_relative_to(ROOT) else config),
                  checkpoint='random init' if args.checkpoint is None else str(args.checkpoint),
                  dataset=dataset, clips=clips, list_repeat=args.list_repeat, batch_size=16,
                  threads=args.threads, repeats=args.repeats)
    mach = f'{platform.machine()}, {os.cpu_count()} cores'
    best = {}
    for name, runs in results.items():
        fastest = min(runs, key=lambda x: x['wall_s'])
        best[name] = clips / fastest['wall_s']
        line = dict(bench='extract', variant=name, clips_per_s=round(best[name], 2),
                    wall_s_all=[round(x['wall_s'], 2) for x in runs], inputs=inputs, machine=mach)
        if 'forward_s' in fastest:
            line.update(check_s=round(fastest['check_s'], 2), decode_wait_s=round(fastest['data_s'], 2),
                        forward_s=round(fastest['forward_s'], 2),
                        extract_call_s=round(fastest['extract_call_s'], 2))
        print(json.dumps(line), flush=True)
    jedi, tool = best[f'jedi_extract_workers{args.workers}'], best['mmaction_tool']
    print(json.dumps(dict(
        bench='extract_vs_mmaction', inputs=inputs, machine=mach,
        ratio_jedi_vs_tool_as_shipped=round(jedi / tool, 3),
        ratio_jedi_vs_tool_same_workers=round(jedi / best[f'mmaction_tool_workers{args.workers}'], 3),
        ratio_jedi_workers0_vs_tool_as_shipped=round(best['jedi_extract_workers0'] / tool, 3))))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
