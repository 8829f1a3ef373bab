"""`jedi --help` start-up time: the light CLI against the same help after loading the ML stack.

Side by side in one run, each a fresh interpreter, alternating, best and median of N:

- ``light``: ``python -m jedi_repro.cli --help`` as shipped (argument parsing and help need neither torch,
  mmengine nor numpy: ``jedi_repro.compat`` applies its mmengine fixes when mmengine is first imported).
- ``ml_stack``: the same help after ``import torch, mmengine, numpy`` and the mmengine fixes: what every
  ``jedi --help`` and argument error paid before (``import jedi_repro`` applied ``compat.apply()`` at once,
  and ``features import-mmaction``'s help imported numpy).

Also checked (not timed): which of torch / mmengine / numpy / mlflow / optuna the light help imported.
Prints one JSON line. Usage: ``python benchmarks/bench_cli_startup.py [--repeats 7]``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

LIGHT = 'import sys; from jedi_repro.cli import main; sys.argv = ["jedi", "--help"]; main()'
HEAVY = ('import sys, torch, mmengine, numpy; from jedi_repro import compat; compat.apply(); '
         'from jedi_repro.cli import main; sys.argv = ["jedi", "--help"]; main()')
PROBE = ('import sys, contextlib, io\nfrom jedi_repro.cli import main\n'
         'with contextlib.redirect_stdout(io.StringIO()):\n'
         '    try:\n        main(["--help"])\n    except SystemExit:\n        pass\n'
         'print(sorted(m for m in ("torch", "mmengine", "numpy", "mlflow", "optuna") if m in sys.modules))')


def _time(code: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, '-c', code], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--repeats', type=int, default=7)
    args = ap.parse_args()
    _time(LIGHT), _time(HEAVY)  # warm the page cache for both
    light, heavy = [], []
    for _ in range(args.repeats):
        light.append(_time(LIGHT))
        heavy.append(_time(HEAVY))
    imported = subprocess.run([sys.executable, '-c', PROBE], check=True, capture_output=True,
                              text=True).stdout
    print(json.dumps({
        'bench': 'cli_startup', 'repeats': args.repeats,
        'light_s': {'best': round(min(light), 3), 'median': round(statistics.median(light), 3)},
        'ml_stack_s': {'best': round(min(heavy), 3), 'median': round(statistics.median(heavy), 3)},
        'speedup_median': round(statistics.median(heavy) / statistics.median(light), 1),
        'light_help_imported': json.loads(imported.strip().replace("'", '"')),
        'machine': {'cpu': platform.processor() or platform.machine(), 'cores': os.cpu_count(),
                    'load_avg': [round(x, 2) for x in os.getloadavg()], 'python': platform.python_version()},
    }))


if __name__ == '__main__':
    main()
