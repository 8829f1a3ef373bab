"""The regime map (``jedi bench regimes``): when does JEDI help? Label fraction x expert views on YouTube-8M.

A map is one declarative file. ``mm_configs/yt8m/regimes.py``: the cut of ``setting_main.py``, the label
fractions, the expert views (every expert sees the same features, or each its own modality), the seeds
and the JEDI budget; cells (view, fraction). ``mm_configs/yt8m/regimes_overlap.py`` (the paper's regime):
the overlap cut (``yt8m.cut_overlapping``), every dataset fully labelled; cells (view, n datasets, class
overlap) as its ``grid`` lists them, every cell's cut checked before any training. Per cell:

1. experts + feature store (``jedi_repro.experts.video_level_expert.build_yt8m_store``, as ``jedi bench
   yt8m``; the experts train on the cell's labelled subset only), reused when the store exists;
2. studies ``<map name>_<cell>_{jedi,gamma0,student[,kd_pool]}`` (specs written under
   ``$JEDI_HOME/bench/<map name>/specs``): JEDI with the paper's settings, gamma = 0, student-only
   fine-tuning and ``model.kd_pool`` = own / others (first map: in ``kd_pool_views``; overlap map: where
   classes overlap, at ``kd_pool_n``); one study worker each, a study
   that is complete is not re-run (Optuna journal) and finished seed runs are reused
   (``jedi_repro.engine.reuse``).

Cells run in ``workers`` processes at once (``OMP_NUM_THREADS=1`` each, as study workers). The report
(``jedi_repro.benchmarks.regimes_report``) reads every seed run's ``metrics.json``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from jedi_repro.benchmarks.yt8m import _atomic_write
from jedi_repro.workspace import checkout_root

REPO = checkout_root()
MAP_CONFIG = REPO / 'mm_configs' / 'yt8m' / 'regimes.py'
OVERLAP_MAP_CONFIG = REPO / 'mm_configs' / 'yt8m' / 'regimes_overlap.py'
VARIANTS = ('jedi', 'gamma0', 'student', 'kd_pool')


def _log(msg: str) -> None:
    print(msg, flush=True)


class Cell(NamedTuple):
    """One cell of a map: its expert view and labelled fraction; in an overlap map (``overlaps``) also the
    number of datasets and the requested class overlap."""

    view: str
    fraction: float
    n: int | None = None
    overlap: float | None = None

    @property
    def name(self) -> str:
        """``different_f010`` (label-fraction map) or ``same_n4_o30`` (overlap map)."""
        if self.n is None:
            return f'{self.view}_f{round(float(self.fraction) * 100):03d}'
        return f'{self.view}_n{self.n}_o{round(float(self.overlap) * 100):02d}'


def is_overlap_map(mcfg) -> bool:
    return 'overlaps' in mcfg


def load_map(path: str | Path | None = None):
    """A map config (default ``mm_configs/yt8m/regimes.py``); errors name the file and field."""
    from mmengine.config import Config

    from jedi_repro.errors import JediError
    path = Path(path or MAP_CONFIG)
    if not path.is_file():
        raise JediError(f'regime map config {path} does not exist')
    cfg = Config.fromfile(str(path))
    need = ('views', 'expert_defaults', 'seeds', 'base_config')
    need += ('overlap_cut', 'overlaps', 'grid') if 'overlaps' in cfg else ('cut', 'label_fractions')
    for key in need:
        if key not in cfg:
            raise JediError(f'{path}: missing field {key!r}')
    for f in cfg.get('label_fractions', ()):
        if not 0 < float(f) <= 1:
            raise JediError(f'{path}: label_fractions: {f} is not in (0, 1]')
    for f in cfg.get('overlaps', ()):
        if not 0 <= float(f) <= 1:
            raise JediError(f'{path}: overlaps: {f} is not in [0, 1]')
    unknown = set(cfg.get('kd_pool_views', ())) - set(cfg.views)
    for row in cfg.get('grid', ()):
        if len(row) != 3 or any(float(o) not in [float(x) for x in cfg.overlaps] for o in row[2]):
            raise JediError(f'{path}: grid row {row!r} is not (view, n, overlaps) with overlaps from '
                            f'`overlaps` {tuple(cfg.overlaps)}')
        unknown |= {row[0]} - set(cfg.views)
    if unknown:
        raise JediError(f'{path}: kd_pool_views / grid name unknown view(s) {sorted(unknown)}; views: '
                        f'{sorted(cfg.views)}')
    return cfg


def prefix(mcfg) -> str:
    """Stores, studies and run dirs of a map are named ``<prefix>_<cell>`` (``regimes`` for the first map)."""
    return mcfg.get('name', 'regimes')


def cell_name(view: str, fraction: float) -> str:
    """``different_f010``: the view and the labelled fraction in percent (label-fraction map)."""
    return Cell(view, float(fraction)).name


def cells(mcfg) -> list[Cell]:
    """Every cell of the map, in the order they run: label-fraction map by fraction, the views of a
    fraction side by side; overlap map as ``grid`` lists them (``(view, n, overlaps)`` rows)."""
    if not is_overlap_map(mcfg):
        return [Cell(v, float(f)) for f in mcfg.label_fractions for v in mcfg.views]
    frac = float(mcfg.get('labeled_fraction', 1.0))
    return [Cell(view, frac, int(n), float(ov)) for view, n, overlaps in mcfg.grid for ov in overlaps]


def find_cell(mcfg, name: str) -> Cell:
    from jedi_repro.errors import JediError
    for c in cells(mcfg):
        if c.name == name:
            return c
    raise JediError(f'no cell {name!r} in the map; cells: {[c.name for c in cells(mcfg)]}')


def view_experts(mcfg, cell: Cell, datasets: list[str]) -> dict:
    """Expert spec per dataset: the view's dict (label-fraction map), or its modalities dealt in turn."""
    spec = mcfg.views[cell.view]
    if isinstance(spec, dict):
        return dict(spec)
    return {d: dict(modality=spec[i % len(spec)]) for i, d in enumerate(datasets)}


def cell_setting(mcfg, cell: Cell, datasets: list[str] | None = None):
    """The ``build_yt8m_store`` setting of one cell."""
    from mmengine.config import Config
    setting = dict(name=f'{prefix(mcfg)}_{cell.name}', labeled_fraction=float(cell.fraction),
                   labeled_seed=mcfg.get('labeled_seed', 0), expert_defaults=dict(mcfg.expert_defaults))
    if is_overlap_map(mcfg):
        setting['overlap_cut'] = dict(mcfg.overlap_cut, n=cell.n, overlap=cell.overlap)
    else:
        setting['cut'] = dict(mcfg.cut)
    setting['experts'] = view_experts(mcfg, cell, datasets or list(mcfg.views[cell.view]))
    return Config(setting)


def cut_cell(mcfg, cell: Cell, data) -> list:
    """The cell's datasets: the vertical cut, or the overlap cut at the cell's n and overlap."""
    from jedi_repro.data import yt8m
    if is_overlap_map(mcfg):
        return yt8m.cut_overlapping(data.label_offsets, data.label_values, data.vocab, n=cell.n,
                                    overlap=cell.overlap, **mcfg.overlap_cut)
    return yt8m.cut_datasets(data.label_offsets, data.label_values, data.vocab, **mcfg.cut)


def store_dir(mcfg, cell: Cell) -> Path:
    from jedi_repro import workspace
    return workspace.features_dir(f'{prefix(mcfg)}_{cell.name}')


def bench_dir(mcfg, *parts: str) -> Path:
    from jedi_repro import workspace
    return workspace.path('bench', prefix(mcfg), *parts, mkdir=True)


def has_kd_pool(mcfg, cell: Cell) -> bool:
    """Label-fraction map: in ``kd_pool_views``; overlap map: where classes overlap (and, when the map
    declares ``kd_pool_n``, at those n only)."""
    if not is_overlap_map(mcfg):
        return cell.view in mcfg.get('kd_pool_views', ())
    return cell.overlap > 0 and cell.n in tuple(mcfg.get('kd_pool_n', (cell.n,)))


def cell_variants(mcfg, cell: Cell) -> list[str]:
    return [v for v in VARIANTS if v != 'kd_pool' or has_kd_pool(mcfg, cell)]


def study_name(mcfg, cell: Cell, variant: str) -> str:
    return f'{prefix(mcfg)}_{cell.name}_{variant}'


def spec_text(mcfg, cell: Cell, variant: str, base_config: Path | None = None) -> str:
    """The YAML study spec of one cell's variant."""
    import yaml
    cfg_options = dict(mcfg.get('jedi_cfg_options', {}))
    space = {'jedi': {'model.gamma': [0.4]}, 'gamma0': {'model.gamma': [0.0]},
             'student': {'model.gamma': [0.0]}, 'kd_pool': {'model.kd_pool': ['own', 'others']}}[variant]
    if variant == 'student':
        cfg_options['custom_hooks'] = []  # no JEDIDistillHook: no teachers, no KD
    where = (f'{cell.fraction:.0%} labels' if cell.n is None
             else f'{cell.n} datasets, {cell.overlap:.0%} class overlap')
    spec = dict(
        name=study_name(mcfg, cell, variant),
        description=f'regime map, view {cell.view}, {where}: {variant}',
        base_config=str(base_config or (REPO / mcfg.base_config)),
        features=str(store_dir(mcfg, cell)), seeds=[int(s) for s in mcfg.seeds],
        cfg_options=cfg_options, space={k: {'type': 'grid', 'values': v} for k, v in space.items()},
        sampler={'type': 'grid'}, objectives=[{'metric': 'mean/student/top1', 'direction': 'maximize'}],
        pruner={'type': 'none'})
    return yaml.safe_dump(spec, sort_keys=False)


def write_specs(mcfg, cell: Cell) -> list[Path]:
    out = []
    for variant in cell_variants(mcfg, cell):
        path = bench_dir(mcfg, 'specs') / f'{study_name(mcfg, cell, variant)}.yaml'
        text = spec_text(mcfg, cell, variant)
        if not path.is_file() or path.read_text() != text:
            _atomic_write(path, text)
        out.append(path)
    return out


def build_cell_store(mcfg, cell: Cell, data=None, overwrite: bool = False) -> dict:
    """Experts + feature store of one cell (reused when present); returns the experts' summary."""
    from jedi_repro.data import yt8m
    from jedi_repro.experts import video_level_expert as E
    sdir, bdir = store_dir(mcfg, cell), bench_dir(mcfg, cell.name)
    experts_json = bdir / 'experts.json'
    if sdir.exists() and experts_json.is_file() and not overwrite:
        return json.loads(experts_json.read_text())
    data = data or yt8m.load_yt8m(mcfg.get('data_dir'))
    cut = cut_cell(mcfg, cell, data)
    setting = cell_setting(mcfg, cell, [c.name for c in cut])
    _log(f'[{cell.name}] training experts ({cell.fraction:.0%} of each train split labelled)')
    experts = E.build_yt8m_store(data, cut, setting, sdir, bdir / 'experts', overwrite=True,
                                 log=_log)
    _atomic_write(experts_json, json.dumps(experts, indent=1))
    return experts


def check_cuts(mcfg) -> None:
    """Every cell's cut can be made from the data (overlap maps; the cut is cheap), before any training.

    Raises:
        JediError: naming the cell and what the data lacks.
    """
    from jedi_repro.data import yt8m
    from jedi_repro.errors import JediError
    if not is_overlap_map(mcfg):
        return
    data = yt8m.load_yt8m(mcfg.get('data_dir'))
    for cell in cells(mcfg):
        try:
            cut_cell(mcfg, cell, data)
        except JediError as exc:
            raise JediError(f'regime map cell {cell.name}: {exc}') from None


def run_cell(mcfg, cell: Cell, overwrite: bool = False) -> dict:
    """Store + studies of one cell (what a cell worker process runs); returns wall times."""
    from jedi_repro.studies.runner import run_study
    t0 = time.perf_counter()
    build_cell_store(mcfg, cell, overwrite=overwrite)
    timings = {'store': time.perf_counter() - t0}
    for spec in write_specs(mcfg, cell):
        t1 = time.perf_counter()
        _log(f'[{cell.name}] study {spec.stem}')
        run_study(spec, workers=1, progress=False)
        timings[spec.stem] = time.perf_counter() - t1
    _atomic_write(bench_dir(mcfg, cell.name) / 'timings.json', json.dumps(timings, indent=1))
    return timings


def run_cells(mcfg, todo: list[Cell], workers: int, map_path: Path, log_dir: Path,
              overwrite: bool = False) -> None:
    """Run cells in ``workers`` processes at once (``python -m jedi_repro.benchmarks.regimes``)."""
    from jedi_repro.errors import JediError
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    queue, running, failed = list(todo), [], []
    while queue or running:
        while queue and len(running) < workers:
            name = queue.pop(0).name
            log = open(log_dir / f'{name}.log', 'a')
            cmd = [sys.executable, '-m', 'jedi_repro.benchmarks.regimes', str(map_path), name]
            if overwrite:
                cmd.append('--overwrite')
            running.append((name, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log,
                            time.perf_counter()))
            _log(f'regimes: cell {name} started (log {log_dir / f"{name}.log"})')
        time.sleep(1.0)
        for item in list(running):
            name, proc, log, t0 = item
            if proc.poll() is None:
                continue
            running.remove(item)
            log.close()
            _log(f'regimes: cell {name} {"done" if proc.returncode == 0 else "FAILED"} '
                 f'({time.perf_counter() - t0:.0f} s)')
            if proc.returncode != 0:
                failed.append(name)
    if failed:
        raise JediError(f'jedi bench regimes: cell(s) {failed} failed; see their logs in {log_dir} and run '
                        'the command again (finished studies and runs are reused)')


def run_map(out: str | Path, map_path: str | Path | None = None, workers: int = 2, overwrite: bool = False,
            skip_runs: bool = False, argv: list[str] | None = None) -> Path:
    """The whole map (what ``jedi bench regimes`` runs); returns the report directory.

    Args:
        out: report directory (``README.md``, ``results.csv``, figures).
        map_path: the map config (default ``mm_configs/yt8m/regimes.py``).
        workers: cells trained at once, one process each.
        overwrite: rebuild the experts and feature stores.
        skip_runs: write the report from the runs that exist (nothing is trained).
        argv: the command line, for the report.

    Raises:
        JediError: a bad map config, missing data, a failed cell.
    """
    from jedi_repro.benchmarks import regimes_report
    from jedi_repro.data import yt8m
    from jedi_repro.errors import JediError
    if workers < 1:
        raise JediError(f'--workers must be at least 1, got {workers}')
    map_path = Path(map_path or MAP_CONFIG).resolve()
    mcfg = load_map(map_path)
    out = Path(out).resolve()
    t0 = time.perf_counter()
    if not skip_runs:
        yt8m.resolve_data_dir(mcfg.get('data_dir'))  # missing data fails here, before any process starts
        check_cuts(mcfg)
        log_dir = bench_dir(mcfg, 'logs')
        run_cells(mcfg, cells(mcfg), workers, map_path, log_dir, overwrite=overwrite)
    wall_s = time.perf_counter() - t0
    regimes_report.write_report(out, mcfg, argv=argv or ['jedi', 'bench', 'regimes'], wall_s=wall_s,
                                map_path=map_path)
    _log(f'regimes: report in {out / "README.md"} ({time.perf_counter() - t0:.0f} s in all)')
    return out


def main(argv: list[str] | None = None) -> int:
    """One cell, in its own process: ``python -m jedi_repro.benchmarks.regimes MAP CELL``."""
    import argparse
    p = argparse.ArgumentParser(prog='python -m jedi_repro.benchmarks.regimes')
    p.add_argument('map')
    p.add_argument('cell', help='cell name, e.g. different_f010 or same_n4_o30')
    p.add_argument('--overwrite', action='store_true')
    a = p.parse_args(argv)
    mcfg = load_map(a.map)
    cell = find_cell(mcfg, a.cell)
    t = run_cell(mcfg, cell, overwrite=a.overwrite)
    _log(f'cell {cell.name}: ' + ', '.join(f'{k} {v:.0f} s' for k, v in t.items()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
