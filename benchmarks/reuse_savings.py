"""How much of a finished workspace's training run reuse would have saved (read-only; issue 15, item 1).

Scans ``WORK_DIRS`` (e.g. ``$JEDI_HOME/work_dirs`` after ``jedi demo``) for ``metrics.json`` files of
finished runs, groups them by what ``jedi_repro.engine.reuse`` keys a run by (the resolved config's hash,
the feature store's hash, the seed; the code version is taken as equal: one workspace, one checkout) and
counts every run after the first of its group as one that reuse adopts instead of training. The saved
share is those runs' ``wall_s`` over the total ``wall_s`` of all runs. Only runs ``is_reusable`` accepts
(converged or capped) can be originals. One JSON line.

Usage:
    python benchmarks/reuse_savings.py WORK_DIRS [--group-by-study]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from jedi_repro.engine.reuse import is_reusable
from jedi_repro.tracking.provenance import config_hash


def savings(root: Path) -> dict:
    groups: dict[tuple, list[tuple[str, dict]]] = defaultdict(list)
    for path in sorted(root.rglob('metrics.json')):
        try:
            m = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if 'wall_s' not in m or 'config' not in m or m.get('reused_from'):
            continue
        key = (config_hash(m['config']), m.get('features_hash'), m.get('seed'))
        groups[key].append((str(path.parent.relative_to(root)), m))
    total = sum(m['wall_s'] for runs in groups.values() for _, m in runs)
    reused = []
    for runs in groups.values():
        first = next((i for i, (_, m) in enumerate(runs) if is_reusable(m)), None)
        if first is None:
            continue
        reused += [(name, m['wall_s'], runs[first][0]) for i, (name, m) in enumerate(runs) if i != first]
    saved = sum(w for _, w, _ in reused)
    n_runs = sum(len(r) for r in groups.values())
    return dict(work_dirs=str(root), runs=n_runs, reusable_repeats=len(reused),
                repeat_share_of_runs=round(len(reused) / n_runs, 3) if n_runs else 0.0,
                wall_s_total=round(total, 1), wall_s_saved=round(saved, 1),
                saved_share_of_training=round(saved / total, 3) if total else 0.0,
                repeats=[dict(run=n, wall_s=round(w, 1), original=o) for n, w, o in reused])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('work_dirs', type=Path)
    args = p.parse_args(argv)
    if not args.work_dirs.is_dir():
        print(f'error: {args.work_dirs} is not a directory', file=sys.stderr)
        return 1
    print(json.dumps(savings(args.work_dirs)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
