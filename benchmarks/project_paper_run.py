"""Projected cost of JEDI at the paper's scale (the full ``jedi features synth --preset paper`` store):
one run, and the gamma (2 configurations) and fusion (4) ablations with 5 seeds each.

A projection, not a measurement: FLOPs of the model's linear layers per training row (forward + input and
weight gradients = 6 x weights) times the rows a run trains on, divided by a sustained FLOP rate. For
this CPU the rate is the one ``bench_paper_scale.py`` measured for the harness (``--cpu-gflops``); for a
GPU it is a fraction (``--gpu-efficiency``) of the device's published dense peak (``--gpu-peak-tflops``,
e.g. 989 for an H100 SXM in bf16, 494 in TF32), plus the host's measured per-iteration cost of
gathering a batch from the memory maps (``--host-ms-per-iter``), which a GPU does not remove. The
number of epochs per run (``--epochs``) is an assumption: runs stop at a validation plateau (patience
10 in jedi_runtime.py), so at least 11.

Usage:
    python benchmarks/project_paper_run.py --cpu-gflops 9 [--hidden-dim none] [--epochs 20]
"""
from __future__ import annotations

import argparse
import math

from jedi_repro.data.synth_store import preset_layout, store_bytes

B_LAB, B_POOL = 32, 128
STUDIES = {'one run': 1, 'gamma ablation (2 configs x 5 seeds)': 10,
           'fusion ablation (4 configs x 5 seeds; all costed as concat)': 20}


def model_weights(layout: list[dict], hidden: int | None) -> int:
    """Weights of the linear layers of JEDIModel with concat fusion: residual adjustment MLPs (hidden =
    the expert dim when ``None``, the default), students over their own expert, teachers over the concat."""
    dims = [d['dim'] for d in layout]
    classes = [d['classes'] for d in layout]
    adjust = sum(2 * d * (hidden or d) for d in dims)
    return adjust + sum(d * c for d, c in zip(dims, classes)) + sum(dims) * sum(classes)


def iters_per_epoch(layout: list[dict]) -> int:
    """Balanced pool mix (the default): every labelled sample once, the pool at least once."""
    pool = sum(d['splits']['train'] for d in layout)
    return max(math.ceil(pool / B_POOL), *(math.ceil(d['splits']['train'] / B_LAB) for d in layout))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--scale', type=float, default=1.0)
    p.add_argument('--hidden-dim', default='none', help="adjustment width; 'none' = the expert dim (default)")
    p.add_argument('--epochs', type=int, default=20)
    p.add_argument('--cpu-gflops', type=float, required=True, help='harness GFLOP/s measured on this CPU')
    p.add_argument('--cpu-label', default='this CPU (measured rate)')
    p.add_argument('--gpu-peak-tflops', type=float, default=989.0,
                   help='published dense peak (H100 SXM bf16)')
    p.add_argument('--gpu-efficiency', type=float, default=0.2, help='fraction of the peak sustained')
    p.add_argument('--gpu-label', default='one H100 SXM (bf16, 20% of the 989 TFLOP/s dense peak)')
    p.add_argument('--host-ms-per-iter', type=float, default=10.0,
                   help='CPU time per iteration the GPU cannot hide (batch gather, loop)')
    args = p.parse_args()
    layout = preset_layout('paper', args.scale)
    hidden = None if args.hidden_dim == 'none' else int(args.hidden_dim)
    w = model_weights(layout, hidden)
    rows = B_LAB * len(layout) + B_POOL
    it = iters_per_epoch(layout)
    val_rows = sum(d['splits']['val'] for d in layout)
    epoch_flop = 6.0 * w * rows * it + 2.0 * w * val_rows  # training + one validation pass
    run_flop = epoch_flop * args.epochs + 2 * 2.0 * w * val_rows  # + the final test passes (2 checkpoints)
    print(f'store: scale {args.scale:g}, {sum(sum(d["splits"].values()) for d in layout)} rows, '
          f'{store_bytes(layout, "float16") / 2**30:.1f} GiB float16; model {w / 1e6:.1f} M linear weights '
          f'(adjustment hidden {hidden or "= expert dim"}); {rows} rows/iteration, {it} iterations/epoch; '
          f'{6.0 * w * rows / 1e9:.0f} GFLOP/iteration, {epoch_flop / 1e12:.0f} TFLOP/epoch, '
          f'{args.epochs} epochs/run (assumed)')
    cpu_s = run_flop / (args.cpu_gflops * 1e9)
    gpu_rate = args.gpu_peak_tflops * 1e12 * args.gpu_efficiency
    gpu_s = run_flop / gpu_rate + args.epochs * it * args.host_ms_per_iter / 1e3
    print(f'\n| | {args.cpu_label} | {args.gpu_label} (projection) |')
    print('|---|---|---|')
    for name, runs in STUDIES.items():
        print(f'| {name} | {_fmt(cpu_s * runs)} | {_fmt(gpu_s * runs)} |')
    print(f'| one epoch | {_fmt(epoch_flop / (args.cpu_gflops * 1e9))} | '
          f'{_fmt(epoch_flop / gpu_rate + it * args.host_ms_per_iter / 1e3)} |')


def _fmt(s: float) -> str:
    if s < 120:
        return f'{s:.0f} s'
    if s < 7200:
        return f'{s / 60:.0f} min'
    if s < 3 * 86400:
        return f'{s / 3600:.1f} h'
    return f'{s / 86400:.0f} days'


if __name__ == '__main__':
    main()
