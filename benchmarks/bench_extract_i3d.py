"""``jedi extract`` with the imported Kinetics-400 I3D on the real clips vs a bare PyTorch loop.

Same model (``mm_configs/experts/i3d_kinetics400_rgb.py`` + the checkpoint of ``jedi experts import
i3d-kinetics400``), same clips (../shared/data/real_clips laid out by ``jedi_repro.data.real_clips``: five
clips, mp4 / AVI / GIF), one run, variants side by side:

* ``extract w0`` / ``extract w1``: ``jedi_repro.experts.extract.extract`` (what ``jedi extract`` runs), no
  block cache, decoding in the main process (``--workers 0``, the CPU default) or in one DataLoader worker
  beside the forward pass; its own counters split the loop into waiting for decoded clips (``data_s``)
  and the forward pass (``forward_s``); ``check_s`` is the up-front check that every clip decodes.
* ``bare cl`` / ``bare``: a plain ``for x in tensors: head(backbone(x))`` under ``inference_mode`` over
  the same clips decoded beforehand by the same test pipeline and data preprocessor (not timed), with and
  without channels-last weights (extract's ``channels_last='auto'`` picks channels-last for 3D CNNs).
* ``precision``: extraction runs fp32; ``precision='auto'`` resolves to bf16 only where the CPU has native
  bf16 (``jedi_repro.engine.precision.bf16_native``); the resolved value and its reason are printed, and
  with ``--bf16`` the bare loop also runs under bf16 autocast for comparison.

Ratios: ``bare cl`` seconds over ``extract`` loop seconds (data + forward) and over its whole wall time
(1.0 = no overhead), means over ``--repeats`` (the extract variants alternate their order; one untimed
warm-up forward first). Frames/s counts the frames the network sees (64 per clip). Prints one JSON line per
variant and a summary, appended to ``--out``. Usage::

    python benchmarks/bench_extract_i3d.py [--repeats 1] [--bf16] [--out FILE.jsonl]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / 'mm_configs' / 'experts' / 'i3d_kinetics400_rgb.py'
CLIPS = ROOT.parent / 'shared' / 'data' / 'real_clips'


def cpu_name() -> str:
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
    except OSError:
        return platform.processor()
    info = dict(line.split(':', 1) for line in out.splitlines() if ':' in line)
    flags = [f for f in info.get('Flags', '').split() if f.startswith(('avx', 'amx', 'fma'))]
    return f'{info.get("Model name", "?").strip()} ({",".join(flags)})'


def predecode(cfg, root: Path) -> list:
    """Every clip of the data root through the test pipeline and the data preprocessor (``[1, 3, T, H, W]``
    each)."""
    import torch
    from mmaction.utils import register_all_modules
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.registry import MODELS

    from jedi_repro.data.files import read_annotations
    from jedi_repro.experts.data_root import read_data_root

    register_all_modules(init_default_scope=True)
    pipe, pre, out = Compose(cfg.test_pipeline), MODELS.build(cfg.model.data_preprocessor), []
    for ds in read_data_root(root):
        for lst in ds.splits.values():
            for rel, _ in read_annotations(lst, len(ds.classes)):
                data = pipe(dict(filename=str(ds.video_prefix / rel), label=-1, start_index=0,
                                 modality='RGB'))
                with torch.inference_mode():
                    out.append(pre(pseudo_collate([data]))['inputs'][:, 0].contiguous())
    return out


def bare_loop(model, tensors, bf16: bool = False) -> float:
    import contextlib

    import torch
    ctx = torch.autocast('cpu', dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    t0 = time.perf_counter()
    with torch.inference_mode(), ctx:
        for x in tensors:
            model.cls_head(model.backbone(x))
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--repeats', type=int, default=1)
    ap.add_argument('--bf16', action='store_true', help='also time the bare loop under bf16 autocast')
    ap.add_argument('--out', default=str(ROOT / 'benchmarks' / 'results' / 'bench_extract_i3d.jsonl'))
    args = ap.parse_args()
    import torch

    from jedi_repro.data.real_clips import write_real_clips_root
    from jedi_repro.engine.precision import bf16_native
    from jedi_repro.experts.config import load_expert_config
    from jedi_repro.experts.data_init import init_data_root
    from jedi_repro.experts.extract import ExpertSpec, build_expert, extract
    from jedi_repro.experts.i3d_import import import_expert

    ckpt = Path(import_expert('i3d-kinetics400', log=None)['checkpoint'])
    cfg = load_expert_config(CONFIG)
    native, why = bf16_native(cuda=False)
    env = dict(cpu=cpu_name(), threads=torch.get_num_threads(), load_before=os.getloadavg(),
               torch=torch.__version__, precision_auto='bf16' if native else 'fp32', precision_why=why)
    rows = []
    with tempfile.TemporaryDirectory(prefix='bench-i3d-') as tmp:
        root = write_real_clips_root(Path(tmp) / 'root', CLIPS)
        init_data_root(root)
        tensors = predecode(cfg, root)
        n, frames = len(tensors), sum(int(x.shape[2]) for x in tensors)
        models = {cl: build_expert(cfg, ckpt, channels_last=cl, device='cpu') for cl in (True, False)}
        for cl in (True, False):  # warm-up (allocator, kernel selection), not timed
            bare_loop(models[cl], tensors[:1])
        for rep in range(args.repeats):
            for workers in ((0, 1) if rep % 2 == 0 else (1, 0)):  # alternate the order: load drifts
                res = extract(root, Path(tmp) / f'store{workers}', experts=[ExpertSpec(CONFIG, ckpt)],
                              use_cache=False, overwrite=True, show_progress=False, log=None,
                              num_workers=workers, batch_size=1)
                loop = res['data_s'] + res['forward_s']
                rows.append(dict(variant=f'extract w{workers}', rep=rep, clips=n, wall_s=res['wall_s'],
                                 loop_s=round(loop, 2), data_s=res['data_s'], forward_s=res['forward_s'],
                                 check_s=res['check_s'], decode_share=round(res['data_s'] / loop, 3),
                                 clips_per_s=round(n / res['wall_s'], 4),
                                 frames_per_s=round(frames / loop, 2)))
            for cl in (True, False):
                s = bare_loop(models[cl], tensors)
                rows.append(dict(variant='bare cl' if cl else 'bare', rep=rep, clips=n, loop_s=round(s, 2),
                                 clips_per_s=round(n / s, 4), frames_per_s=round(frames / s, 2)))
            if args.bf16:
                s = bare_loop(models[True], tensors, bf16=True)
                rows.append(dict(variant='bare cl bf16', rep=rep, clips=n, loop_s=round(s, 2),
                                 clips_per_s=round(n / s, 4), frames_per_s=round(frames / s, 2)))
    env['load_after'] = os.getloadavg()

    def mean(variant, key):
        vals = [r[key] for r in rows if r['variant'] == variant]
        return sum(vals) / len(vals)

    bare = mean('bare cl', 'loop_s')
    summary = dict(summary=True, **env, clips=n, frames_seen=frames,
                   ratio_bare_over_extract_loop={f'w{w}': round(bare / mean(f'extract w{w}', 'loop_s'), 3)
                                                 for w in (0, 1)},
                   ratio_bare_over_extract_wall={f'w{w}': round(bare / mean(f'extract w{w}', 'wall_s'), 3)
                                                 for w in (0, 1)},
                   channels_last_speedup=round(mean('bare', 'loop_s') / bare, 3))
    with open(args.out, 'a') as f:
        for r in rows + [summary]:
            print(json.dumps(r))
            f.write(json.dumps(r) + '\n')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
