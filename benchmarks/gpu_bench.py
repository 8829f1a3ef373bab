"""The GPU path in one short run: JEDI training fp32 vs bf16 and ``jedi extract`` with a real MMAction2
backbone, on whatever accelerator this machine has (``benchmarks/gpu_bench.sh`` installs what is missing
and calls this).

1. Training (``bench_precision.run``): samples/s of the harness at the paper's dimensions (4 experts x
   2048-d, classes 400/101/51/200, 256 clips of each dataset + a pool of 4 x 256 per step) in fp32 and
   bf16 (``precision=bf16``: mmengine's ``AmpOptimWrapper`` on CUDA), with the fraction of the device's
   matmul peak (fp32 / bf16) measured in the same run.
2. Extraction: ``jedi_repro.experts.extract.extract`` (what ``jedi extract`` runs) with MMAction2's
   TSN-R50 (``mm_configs/paper/kinetics400_tsn_r50.py``, random initial weights: nothing is downloaded) on
   rendered videos (``jedi synth --preset quick``, the Kinetics-like set), 8 segments at 224 x 224 (the
   model zoo's validation pipeline), with decoding workers 0 (the decode vs forward split) and N.

One JSON line per figure. ``--quick``: tiny training dimensions and TSN-R50 on 3 segments at 64 x 64 over
12 clips, so that it runs on a CPU in CI (its timings mean nothing; the test checks the fields).

Usage:
    python benchmarks/gpu_bench.py [--quick] [--workers 4] [--repeats 2] [--out FILE.jsonl]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_precision  # noqa: E402  (the training half is that benchmark)

ROOT = Path(__file__).resolve().parents[1]
TSN = ROOT / 'mm_configs' / 'paper' / 'kinetics400_tsn_r50.py'
FULL_EXTRACT = dict(segments=8, scale=256, crop=224, max_videos=None, batch=16)
QUICK_EXTRACT = dict(segments=3, scale=72, crop=64, max_videos=12, batch=4)


def env_line() -> dict:
    import mmaction
    import mmengine
    import torch
    line = dict(bench='env', device=bench_precision.device(), machine=bench_precision.machine(),
                torch=torch.__version__, mmengine=mmengine.__version__, mmaction2=mmaction.__version__,
                cpu_count=os.cpu_count())
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        line.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2 ** 30, 1),
                    gpu_count=torch.cuda.device_count())
    return line


def tsn_expert_config(out: Path, dataset: str, data_root: Path, num_classes: int, ex: dict) -> Path:
    """An expert config over MMAction2's TSN-R50 without pretrained weights, for ``dataset``."""
    pipeline = [dict(type='DecordInit'), dict(type='SampleFrames', clip_len=1, frame_interval=1,
                                              num_clips=ex['segments'], test_mode=True),
                dict(type='DecordDecode'), dict(type='Resize', scale=(-1, ex['scale'])),
                dict(type='CenterCrop', crop_size=ex['crop']), dict(type='FormatShape', input_format='NCHW'),
                dict(type='PackActionInputs')]
    text = f"""_base_ = [{str(TSN)!r}]
dataset_name = {dataset!r}
data_root = {str(data_root)!r}
load_from = None
model = dict(backbone=dict(pretrained=None, init_cfg=None),
             cls_head=dict(num_classes={num_classes}, average_clips='prob'))
test_pipeline = {pipeline!r}
test_dataloader = dict(batch_size={ex['batch']}, num_workers=0, persistent_workers=False,
                       dataset=dict(pipeline=test_pipeline))
"""
    out.write_text(text)
    return out


def extraction(workers: list[int], quick: bool, tmp: Path) -> list[dict]:
    import torch
    from bench_extract_vs_mmaction import one_dataset_root
    from mmaction.utils import register_all_modules
    from mmengine.registry import MODELS

    from jedi_repro.data.synth.generate import generate
    from jedi_repro.experts.config import load_expert_config
    from jedi_repro.experts.extract import ExpertSpec, extract

    ex = QUICK_EXTRACT if quick else FULL_EXTRACT
    synth = generate(tmp / 'synth', preset='quick', seed=0, log=None)
    root, _, clips = one_dataset_root(synth, 'kinetics_like', tmp / 'root', ex['max_videos'])
    n_cls = len(json.loads((root / 'kinetics_like' / 'dataset.json').read_text())['classes'])
    config = tsn_expert_config(tmp / 'tsn_r50_kinetics_like.py', 'kinetics_like', root, n_cls, ex)
    register_all_modules(init_default_scope=True)
    torch.manual_seed(0)
    ckpt = tmp / 'tsn.pth'
    torch.save({'state_dict': MODELS.build(load_expert_config(config).model).state_dict(), 'meta': {}}, ckpt)
    out = []
    for w in workers:
        res = extract(root, tmp / f'store_w{w}', experts=[ExpertSpec(config, ckpt)], use_cache=False,
                      show_progress=False, log=None, num_workers=w, batch_size=ex['batch'])
        out.append(dict(bench='extract_tsn_r50', device=bench_precision.device(), workers=w, clips=clips,
                        clips_per_s=round(clips / res['wall_s'], 2), wall_s=res['wall_s'],
                        check_s=res['check_s'], decode_wait_s=res['data_s'], forward_s=res['forward_s'],
                        forward_clips_per_s=round(clips / res['forward_s'], 2) if res['forward_s'] else None,
                        inputs=dict(config='mm_configs/paper/kinetics400_tsn_r50.py (random init)',
                                    segments=ex['segments'], crop=ex['crop'], batch_size=ex['batch'],
                                    videos='jedi synth --preset quick, kinetics_like')))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true', help='tiny sizes: a CPU smoke test (CI)')
    p.add_argument('--repeats', type=int, default=2)
    p.add_argument('--workers', type=int, default=min(4, os.cpu_count() or 1),
                   help='decoding workers of the second extraction run')
    p.add_argument('--out', type=Path, default=None, help='also append the JSON lines to this file')
    args = p.parse_args(argv)

    def emit(line: dict) -> None:
        text = json.dumps(line)
        print(text, flush=True)
        if args.out:
            with open(args.out, 'a') as f:
                f.write(text + '\n')

    emit(env_line())
    cfg = bench_precision.QUICK if args.quick else bench_precision.PAPER
    with tempfile.TemporaryDirectory(prefix='jedi_gpu_bench_') as tmp:
        tmp = Path(tmp)
        bench_precision.make_store(tmp / 'store', cfg)
        for line in bench_precision.run(cfg, tmp / 'store', 1 if args.quick else args.repeats):
            emit(line)
        for line in extraction(sorted({0, args.workers}), args.quick, tmp):
            emit(line)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
