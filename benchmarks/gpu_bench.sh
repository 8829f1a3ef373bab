#!/usr/bin/env bash
# The GPU benchmark in one command, on a machine with an NVIDIA GPU (e.g. an H200):
#   benchmarks/gpu_bench.sh [--quick] [--workers N] [--repeats N]
# Uses the machine's python3 and its CUDA torch (never reinstalls torch). The project's other imports
# (mmengine, mmaction2, mmcv-lite, decord, ...) come, in this order, from: the current environment; wheels
# in $JEDI_WHEELS (default ./.whl, for machines that cannot reach a package index; installed with
# --no-index into /tmp/jedi_site); or `pip install -c requirements.lock` of everything but torch.
# Prints one JSON line per figure (benchmarks/gpu_bench.py) and appends them to
# benchmarks/results/gpu_bench_<gpu name>.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
need='import torch, mmengine, mmaction, decord, jedi_repro.engine.train, jedi_repro.experts.extract'
if ! "$PY" -c "$need" >/dev/null 2>&1; then
    wheels=${JEDI_WHEELS:-.whl}
    if [ -d "$wheels" ]; then
        echo "gpu_bench: installing the wheels in $wheels into /tmp/jedi_site" >&2
        "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/jedi_site "$wheels"/*.whl
        export PYTHONPATH=/tmp/jedi_site:$PYTHONPATH
    else
        echo "gpu_bench: installing the pinned dependencies (requirements.lock without torch)" >&2
        grep -v '^torch==' requirements.lock > /tmp/jedi_gpu_requirements.txt
        "$PY" -m pip install -q -r /tmp/jedi_gpu_requirements.txt
    fi
    "$PY" -c "$need" || { echo "gpu_bench: the imports above still fail; see benchmarks/README.md (GPU)" >&2; exit 1; }
fi
name=$("$PY" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")' \
       | tr -c 'A-Za-z0-9.\n-' '_')
if [ "$name" = "cpu" ]; then
    echo "gpu_bench: no CUDA device visible to torch; the figures below are CPU figures" >&2
fi
mkdir -p benchmarks/results
exec "$PY" benchmarks/gpu_bench.py --out "benchmarks/results/gpu_bench_${name}.jsonl" "$@"
