#!/usr/bin/env bash
# The GPU benchmark in one command, on a machine with an NVIDIA GPU (e.g. an H200):
#   benchmarks/gpu_bench.sh [--quick] [--workers N] [--repeats N]
# Uses the current python if it already imports torch (CUDA build), mmengine, mmaction and jedi_repro;
# otherwise creates .venv-gpu and installs the pinned set (requirements.lock; on Linux x86_64 PyPI's
# torch==2.13.0 wheel is the CUDA build). Prints one JSON line per figure (benchmarks/gpu_bench.py) and
# appends them to benchmarks/results/gpu_bench_<gpu name>.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! PYTHONPATH=$PWD "$PY" -c 'import torch, mmengine, mmaction, jedi_repro' >/dev/null 2>&1; then
    echo "gpu_bench: installing the pinned dependencies into .venv-gpu" >&2
    "$PY" -m venv .venv-gpu
    .venv-gpu/bin/pip install -q -c requirements.lock -e .
    PY=.venv-gpu/bin/python
fi
name=$(PYTHONPATH=$PWD "$PY" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")' | tr -c 'A-Za-z0-9.\n-' '_')
if [ "$name" = "cpu" ]; then
    echo "gpu_bench: no CUDA device visible to torch; the figures below are CPU figures" >&2
fi
mkdir -p benchmarks/results
PYTHONPATH=$PWD exec "$PY" benchmarks/gpu_bench.py --out "benchmarks/results/gpu_bench_${name}.jsonl" "$@"
