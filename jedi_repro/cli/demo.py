"""`jedi demo`: the whole pipeline on the embedded synthetic benchmark.

synth -> experts -> extract -> one JEDI run -> the gamma, KD-reduction and fusion ablations and the
student-only baseline over 3 seeds -> JEDI, gamma = 0 and student-only in JEDI's target regime (a
constructed store: scarce labels, teachers that know more; ``jedi_repro.benchmarks.demo_regime``) -> the
report (with linear probes of what each student's input holds).
Every stage reuses what a previous run left in the workspace, so a second `jedi demo` only redoes what
changed. The report goes to the workspace (``$JEDI_HOME/reports/demo``); the committed example is
regenerated explicitly with ``jedi demo --out reports/demo``. The ablations are the shipped study specs
(``STUDIES`` below, from studies/), copied into the workspace with the demo's study names and feature
store filled in.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

# The shipped specs the demo runs, named `{mode}_{spec}` so that --quick and full runs never share a
# journal or an MLflow experiment.
STUDIES = ('ablation_gamma', 'kd_reduction', 'student_baseline', 'fusion')


def register(sub):
    p = sub.add_parser(
        'demo', help='Run the whole pipeline on the embedded synthetic benchmark',
        description='synth -> experts -> extract -> JEDI -> gamma, KD-reduction and fusion ablations and the '
                    'student-only baseline over 3 seeds -> JEDI vs gamma=0 vs student-only in JEDI\'s target '
                    'regime (scarce labels, teachers that know more) -> Markdown report. Cached stages are '
                    'reused on a second run.',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--quick', action='store_true',
                   help='smaller benchmark, shorter schedules, 2 seeds: a smoke run of the whole pipeline')
    p.add_argument('--out', default=None,
                   help='report directory (default: $JEDI_HOME/reports/demo, or reports/demo-quick with '
                        '--quick, in the workspace; `--out reports/demo` in a checkout regenerates the '
                        'committed example)')
    p.add_argument('--workers', type=int, default=2, help='parallel study workers (default 2)')
    p.add_argument('--seed', type=int, default=0, help='benchmark seed')
    p.set_defaults(func=run)
    return p


def repo_root() -> Path:
    """The directory holding the shipped mm_configs/ and studies/ (a checkout, or the installed package's
    .mim/: ``jedi_repro.resources``)."""
    from jedi_repro.resources import shipped_root
    return shipped_root()


def demo_spec(template: Path, name: str, features: Path, seeds: list[int] | None,
              max_epochs: int | None) -> dict:
    """The shipped study spec with the demo's name, features and (for --quick) seeds and schedule."""
    import yaml

    spec = yaml.safe_load(template.read_text())
    spec['name'] = name
    spec['features'] = str(features)
    spec['base_config'] = str((repo_root() / spec['base_config']).resolve())
    if seeds is not None:
        spec['seeds'] = seeds
    if max_epochs is not None:
        spec.setdefault('cfg_options', {})['train_cfg.max_epochs'] = max_epochs
    return spec


def probe_section(pipeline_json: Path) -> list[str]:
    """Report lines: what each student's input (its own expert's frozen features) can tell, against what
    the teacher's input (all experts' features) can, as linear probes (``pipeline.json``'s ``probe_test``)."""
    from jedi_repro.aggregates import pct

    if not pipeline_json.is_file():
        return []
    summary = json.loads(pipeline_json.read_text())
    probes, own = summary.get('probe_test') or {}, summary.get('own_dataset_test') or {}
    heads = {v['dataset']: v for v in own.values()}
    rows = [(ds, r) for ds, r in probes.items() if 'skipped' not in r]
    if not rows:
        return []
    md = ['## What the students can see: linear probes of the frozen features', '',
          "Student i reads only expert i's frozen features (through its adjustment module); teacher i reads "
          "every expert's. A linear probe fit on each dataset's train clips (L2 chosen on val, test top-1 "
          'shown) measures what each input holds: when the all-experts probe is far above the own-expert '
          'probe, the knowledge a teacher gains from the other experts is not linearly present in its '
          "student's input, and distillation can transfer little of it.", '',
          "Every column is **top-1 on the test split, %**, so that the probes compare with the expert's "
          "head; the second column repeats the head on the dataset's primary metric, as the main table "
          'shows it (mAP for a dataset that declares it).', '',
          '| dataset | expert head, primary metric (main table) | chance, top-1 | expert head, top-1 '
          '| probe: own expert, top-1 | probe: all experts, top-1 |',
          '|---|---:|---:|---:|---:|---:|']
    for ds, r in rows:
        head = heads.get(ds, {})
        metric = head.get('metric') or 'top1'
        primary = f'{pct(head[metric])} ({metric})' if isinstance(head.get(metric), (int, float)) else '-'
        top1 = pct(head['top1']) if isinstance(head.get('top1'), (int, float)) else '-'
        md.append(f'| {ds} | {primary} | {pct(r["chance"])} | {top1} | {pct(r["own"])} | {pct(r["all"])} |')
    md += ['', 'From `pipeline.json` of the demo\'s experts '
           '(`jedi_repro.experts.pipeline.probe_complementarity`; fractions there, percent here).', '']
    return md


def run(args) -> int:
    import yaml

    from jedi_repro import workspace
    from jedi_repro.benchmarks import demo_regime
    from jedi_repro.cli.train import run_summary, train_logged
    from jedi_repro.errors import JediError
    from jedi_repro.experts.pipeline import build_features, default_experts_dir
    from jedi_repro.reporting.report import write_report
    from jedi_repro.studies.runner import run_study

    root = repo_root()
    if not (root / 'mm_configs').is_dir() or not (root / 'studies').is_dir():
        raise JediError(f'the shipped configs and study specs (mm_configs/, studies/) are not under {root}: '
                        'reinstall jedi_repro from a wheel built with its setup.py, or run from a checkout')
    mode = 'demo-quick' if args.quick else 'demo'
    # the workspace by default: running the demo never modifies tracked files of a checkout
    out = Path(args.out) if args.out else workspace.path('reports', mode)
    seeds = [0, 1] if args.quick else None  # None: the specs' own three seeds
    max_epochs = 4 if args.quick else None
    t0 = time.time()
    stage_s = {}

    def stage(name):
        print(f'\n== {name} ({time.time() - t0:.0f} s elapsed)', flush=True)

    stage('1/4 synth -> experts -> extract')
    t = time.time()
    preset = 'quick' if args.quick else 'demo'
    features = build_features(preset=preset, seed=args.seed,
                              out=workspace.features_dir(mode), show_progress=True)
    stage_s['features'] = time.time() - t

    stage('2/4 one JEDI run (paper settings: concat fusion, alpha = beta = 1, gamma = 0.4)')
    t = time.time()
    cfg = root / 'mm_configs' / 'jedi' / 'jedi_default.py'
    work_dir = workspace.work_dir(f'{mode}-jedi_default')
    opts = {'train_cfg.max_epochs': max_epochs} if max_epochs else None
    done = work_dir / 'metrics.json'
    metrics = json.loads(done.read_text()) if done.is_file() else {}
    current = 'primary' in ((metrics.get('val') or {}).get('mean', {}).get('student') or {})
    if current and 'convergence' in metrics:  # a run of the current protocol (jedi_repro.aggregates)
        print(f'  reusing JEDI run {work_dir}')
    else:
        metrics, _ = train_logged(str(cfg), features, work_dir, cfg_options=opts, seed=args.seed,
                                  experiment=f'{mode}-train')
    print(run_summary(metrics))
    stage_s['jedi'] = time.time() - t

    stage(f'3/4 ablations over seeds: {", ".join(STUDIES)} ({args.workers} workers)')
    t = time.time()
    names = []
    for study in STUDIES:
        name = f'{mode}_{study}'
        spec_path = workspace.path('studies', mkdir=True) / f'{name}.yaml'
        spec = demo_spec(root / 'studies' / f'{study}.yaml', name, features, seeds, max_epochs)
        spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
        summary = run_study(spec_path, workers=args.workers)
        print(f'  {name}: {summary["counts"]} in {summary["wall_s"]:.0f} s '
              f'({summary["workers_started"]} workers started)')
        names.append(name)
    stage_s['studies'] = time.time() - t

    stage(f'3b/4 JEDI\'s target regime: scarce labels, teachers that know more ({args.workers} workers)')
    t = time.time()
    regime_store = demo_regime.build_store(workspace.features_dir(f'{mode}-regime'), args.seed)
    for name, spec in demo_regime.specs(mode, regime_store, cfg, seeds or [0, 1, 2], max_epochs).items():
        spec_path = workspace.path('studies', mkdir=True) / f'{name}.yaml'
        spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
        summary = run_study(spec_path, workers=args.workers)
        print(f'  {name}: {summary["counts"]} in {summary["wall_s"]:.0f} s '
              f'({summary["workers_started"]} workers started)')
    stage_s['target regime'] = time.time() - t

    stage('4/4 report')
    t = time.time()
    pipeline = default_experts_dir(preset, args.seed) / 'pipeline.json'
    report = write_report(out, studies=names, title='JEDI on the embedded synthetic benchmark'
                          + (' (quick)' if args.quick else ''),
                          argv=['jedi', 'demo'] + (['--quick'] if args.quick else [])
                          + (['--out', args.out] if args.out else []),
                          extra_sections=probe_section(pipeline) + demo_regime.section(mode))
    stage_s['report'] = time.time() - t

    total = time.time() - t0
    print(f'\njedi demo finished in {total:.0f} s ('
          + ', '.join(f'{k} {v:.0f} s' for k, v in stage_s.items()) + ')')
    print(f'  report:       {report / "report.md"}')
    print(f'  JEDI run:     {work_dir / "metrics.json"}')
    print("  MLflow UI:    jedi ui   (it prints each study's link: its configurations ranked, winner first)")
    print(f'  tracking URI: {workspace.mlflow_uri()}')
    return 0
