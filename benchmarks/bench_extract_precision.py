"""Side-by-side timing of extraction numerics: fp32 vs bf16 autocast vs channels-last, per expert.

Run: ``python benchmarks/bench_extract_precision.py [--batch 16] [--repeats 5] [--threads 1]``. Prints, for
every ``mm_configs/experts`` config (initial weights; speed does not depend on training), the forward
time per clip of each variant, its speed ratio to fp32, and the relative L2 error of the penultimate
features against fp32 (``extract.BF16_FEATURE_REL_TOL`` is the tolerance the tests hold bf16 to).
Ratios, not absolute times, are the result: the machine may be shared.
"""
from __future__ import annotations

import argparse
import time


def _time_variant(model, data, layer, bf16: bool, repeats: int):
    import contextlib

    import torch

    from jedi_repro.experts.extract import find_head_linear

    fc = find_head_linear(model, layer)
    out = []
    h = fc.register_forward_pre_hook(lambda m, a: out.append(a[0].float()))
    ctx = torch.autocast('cpu', dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    times = []
    try:
        with torch.inference_mode(), ctx:
            for i in range(repeats + 1):
                out.clear()
                t = time.perf_counter()
                feats, kw = model.extract_feat(data, stage='backbone')
                model.cls_head(feats, **kw)
                if i:  # the first pass warms up allocators and oneDNN kernels
                    times.append(time.perf_counter() - t)
    finally:
        h.remove()
    return sorted(times)[len(times) // 2], out[0]


def main(argv=None) -> int:
    import torch
    from mmaction.utils import register_all_modules
    from mmengine.registry import MODELS

    import jedi_repro  # noqa: F401  (compat fixes before mmaction.models)
    from jedi_repro.experts.config import feature_layer, load_expert_config
    from jedi_repro.experts.extract import default_expert_configs, to_channels_last

    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--threads', type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    register_all_modules(init_default_scope=True)
    print(f'{"expert":24s} {"variant":14s} {"ms/clip":>8s} {"speed vs fp32":>14s} {"feat rel err":>13s}')
    for path in default_expert_configs():
        cfg = load_expert_config(path)
        torch.manual_seed(0)
        model = MODELS.build(cfg.model).eval()
        if cfg.model.type == 'Recognizer2D':
            x = torch.randint(0, 255, (args.batch, cfg.num_segments, 3, 32, 32), dtype=torch.uint8)
        else:
            x = torch.randint(0, 255, (args.batch, 1, 3, 8, 32, 32), dtype=torch.uint8)
        data = model.data_preprocessor(dict(inputs=list(x), data_samples=None), False)['inputs']
        layer = feature_layer(cfg)
        base_t, base_f = _time_variant(model, data, layer, False, args.repeats)
        rows = [('fp32', base_t, base_f), ('bf16', *_time_variant(model, data, layer, True, args.repeats))]
        if 'TimeSformer' not in cfg.model.backbone.type:  # a transformer has no conv layout to change
            to_channels_last(model)
            rows.append(('channels_last', *_time_variant(model, data, layer, False, args.repeats)))
        for name, t, f in rows:
            err = float((f - base_f).norm() / base_f.norm())
            print(f'{path.stem:24s} {name:14s} {1000 * t / args.batch:8.2f} {base_t / t:13.2f}x {err:13.2e}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
