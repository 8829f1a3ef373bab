"""A report built from a synthetic SQLite MLflow store with known values (reporting_synthetic_runs.py):
its table cells are checked against numbers computed here by hand, with the closed form of Student's t
for n - 1 = 2 and 1 degrees of freedom (no scipy)."""

import math
import re

import pytest
from reporting_synthetic_runs import (
    DATASETS,
    EXPERT,
    GAMMA0,
    LABELFRAC,
    MEANFUSION,
    PAPER,
    SEARCH,
    artifact_location,
)

from jedi_repro.errors import JediError
from jedi_repro.reporting import write_report

# MLflow (SQLite) + Optuna + matplotlib together: about 5 s on an idle core, more on a busy machine.
pytestmark = pytest.mark.integration

T975 = {2: math.sqrt(2 * 0.95**2 / (1 - 0.95**2)), 1: math.tan(math.pi * 0.475)}
P_TWO_SIDED = {
    2: lambda t: 1 - abs(t) / math.sqrt(2 + t * t),
    1: lambda t: 1 - 2 / math.pi * math.atan(abs(t)),
}


def _mean_sd(xs):
    m = sum(xs) / len(xs)
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def hand_cell(values, expert=None, delta=False, one_expert=False):
    """'mean ± ci (n)' in percent, with the paired t-test mark against ``expert`` when given; an expert
    cell whose seeds share one value (``one_expert``) shows 'mean (one expert)': its spread is unmeasured."""
    n = len(values)
    shown = [v - e for v, e in zip(values, expert)] if delta else list(values)
    m, sd = _mean_sd(shown)
    if sd < 1e-12:
        sd = 0.0
        if one_expert:
            return f'{m * 100:.2f} (one expert)'
    m = 0.0 if abs(m * 100) < 0.005 else m
    text = f'{m * 100:{"+" if delta else ""}.2f} ± {T975[n - 1] * sd / math.sqrt(n) * 100:.2f} ({n})'
    if expert is None:
        return text
    dm, dsd = _mean_sd([v - e for v, e in zip(values, expert)])
    if dsd < 1e-12:
        return text + (' (no test)' if delta else '')
    p = P_TWO_SIDED[n - 1](dm / (dsd / math.sqrt(n)))
    return text + ('**' if p < 0.01 else '*' if p < 0.05 else '')


def per_seed(values, role, column):
    """One value per seed of a role in a column (a dataset, or the mean over datasets)."""
    n = len(values['alpha']['student'])
    get = (lambda d, i: EXPERT[d]) if role == 'expert' else (lambda d, i: values[d][role][i])
    if column == 'mean':
        return [sum(get(d, i) for d in DATASETS) / len(DATASETS) for i in range(n)]
    return [get(column, i) for i in range(n)]


def md_table(md: str, heading: str) -> list[dict]:
    """The first pipe table after a heading, as dicts keyed by the header cells."""
    lines = md[md.index(heading) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('|'))
    rows = []
    for line in lines[start:]:
        if not line.startswith('|'):
            break
        rows.append([c.strip() for c in re.split(r'(?<!\\)\|', line.strip())[1:-1]])
    return [dict(zip(rows[0], r)) for r in rows[2:]]


COLUMNS = {'alpha': 'alpha (top1)', 'beta': 'beta (mAP)', 'mean': 'mean'}


@pytest.fixture(scope='module')
def md(report_dir):
    return (report_dir / 'report.md').read_text(encoding='utf-8')


def test_main_table_cells_match_hand_computation(md):
    rows = {r['']: r for r in md_table(md, '## Main results')}
    assert list(rows) == [
        'expert (baseline)',
        'JEDI student',
        'JEDI teacher',
        'student, gamma = 0 (baseline)',  # the gamma study's gamma = 0 configuration
        'Δ student − expert',
        'Δ teacher − expert',
        'Δ student, gamma = 0 − expert',
    ]
    for col, label in COLUMNS.items():
        expert = per_seed(PAPER, 'expert', col)
        assert rows['expert (baseline)'][label] == hand_cell(expert, one_expert=True)
        for role, name in (('student', 'JEDI student'), ('teacher', 'JEDI teacher')):
            vals = per_seed(PAPER, role, col)
            assert rows[name][label] == hand_cell(vals, expert), (role, col)
            assert rows[f'Δ {role} − expert'][label] == hand_cell(vals, expert, delta=True), (role, col)
        g0 = per_seed(GAMMA0, 'student', col)
        assert rows['student, gamma = 0 (baseline)'][label] == hand_cell(g0, expert)
        assert rows['Δ student, gamma = 0 − expert'][label] == hand_cell(g0, expert, delta=True)
    # JEDI's students against the gamma = 0 students, paired by seed, in the summary
    paper, g0 = per_seed(PAPER, 'student', 'mean'), per_seed(GAMMA0, 'student', 'mean')
    assert f'JEDI students vs student, gamma = 0 (gamma trial 0), paired by seed: ' \
        f'{hand_cell(paper, g0, delta=True).split(" ±")[0]} points' in md


def test_main_table_literal_values(md):
    """The same cells written out by hand once, so a shared mistake in hand_cell cannot hide."""
    rows = {r['']: r for r in md_table(md, '## Main results')}
    assert rows['JEDI student']['alpha (top1)'] == '63.00 ± 2.48 (3)*'  # t = 5.196, p = 0.035
    assert rows['JEDI student']['mean'] == '56.50 ± 2.15 (3)'  # t = 3.0, p = 0.095
    assert rows['JEDI teacher']['beta (mAP)'] == '56.00 ± 2.48 (3)**'  # t = 10.39, p = 0.009
    assert rows['Δ teacher − expert']['alpha (top1)'] == '+10.00 ± 0.00 (3) (no test)'  # zero variance
    assert rows['Δ teacher − expert']['mean'] == '+8.00 ± 1.24 (3)**'
    assert 'paired t-test' in md and 'low power' in md
    assert (
        'Students vs experts (mean over datasets): higher by 1.50 points (95% CI ±2.15, n = 3 seeds; '
        'paired t-test p = 0.095, not significant at 0.05)' in md
    )


def test_main_configuration_follows_the_documented_rule(md):
    # gamma trial 1 and fusion trial 0 both match the defaults with 3 seeds (the first wins); the search
    # trial with gamma 0.4 / ce and the label-fraction trial (1.0, 0.4) match too but have 2 seeds
    assert 'Configuration: **gamma trial 1**' in md
    assert '4 configurations match' in md


@pytest.mark.parametrize(
    'study,dimension,layout',
    [
        ('gamma', 'model.gamma', [('0', GAMMA0), ('0.4', PAPER)]),
        ('fusion', 'model.fusion.type', [('concat', PAPER), ('mean', MEANFUSION)]),
    ],
)
def test_ablation_tables_match_hand_computation(md, study, dimension, layout):
    rows = md_table(md, f'## Ablation: `{dimension}` (study {study})')
    assert [(r[dimension], r['role']) for r in rows] == [
        (v, role) for v, _ in layout for role in ('expert', 'student', 'teacher')
    ]
    for row in rows:
        values = dict(layout)[row[dimension]]
        expert = per_seed(values, 'expert', 'mean')
        for col, label in COLUMNS.items():
            vals = per_seed(values, row['role'], col)
            want = (
                hand_cell(vals, one_expert=True)
                if row['role'] == 'expert'
                else hand_cell(vals, per_seed(values, 'expert', col))
            )
            assert row[label] == want, (row[dimension], row['role'], col)
        want_delta = (
            ''
            if row['role'] == 'expert'
            else hand_cell(per_seed(values, row['role'], 'mean'), expert, delta=True)
        )
        assert row['Δ mean vs expert'] == want_delta


def test_grid_ablation_and_label_fraction_curve(md, report_dir):
    dims = ('data.labeled_fraction', 'model.gamma')
    rows = md_table(md, '## Ablation: `data.labeled_fraction` × `model.gamma` (study labelfrac)')
    assert [(r[dims[0]], r[dims[1]], r['role']) for r in rows] == [
        (f, g, role) for f in ('0.1', '1') for g in ('0', '0.4') for role in ('expert', 'student', 'teacher')
    ]
    for row in rows:
        values = LABELFRAC[(float(row[dims[0]]), float(row[dims[1]]))]
        for col, label in COLUMNS.items():
            vals = per_seed(values, row['role'], col)
            want = (
                hand_cell(vals, one_expert=True)
                if row['role'] == 'expert'
                else hand_cell(vals, per_seed(values, 'expert', col))
            )
            assert row[label] == want, (row[dims[0]], row[dims[1]], row['role'], col)
    assert '![Label-fraction curve](figures/label_fraction_labelfrac.png)' in md
    assert (report_dir / 'figures' / 'label_fraction_labelfrac.png').stat().st_size > 10_000


def test_search_table_and_optuna_sections(md):
    rows = md_table(md, '## Search: search')
    assert [r['configuration'] for r in rows] == ['search trial 1', 'search trial 0', 'search trial 2']
    values = SEARCH[1][1]  # the best: gamma 0.4, ce
    assert rows[0]['student mean'] == hand_cell(
        per_seed(values, 'student', 'mean'), per_seed(values, 'expert', 'mean')
    )
    assert rows[0]['teacher mean'] == '63.00 ± 6.35 (2)*'  # df = 1: t = 16, p = 0.040
    # the synthetic journal has no objective names: the line names the objective generically
    assert 'best by val/objective 0 (objective 0): trial-0001 gamma=0.4 kd_loss=ce, 58.50 %' in md
    imp = md_table(md, '![Parameter importances of search]')
    assert {r['parameter'] for r in imp} == {'model.gamma', 'model.kd_loss.type'}
    assert sum(float(r['importance']) for r in imp) == pytest.approx(1.0, abs=0.002)
    assert 'no Optuna journal at' in md  # gamma and fusion have none: said, not hidden


def test_best_configuration_and_notes(md):
    best = {r['study']: r for r in md_table(md, '## Best configuration')}
    assert best['gamma']['best configuration'] == 'gamma trial 1'
    assert best['fusion']['best configuration'] == 'fusion trial 1'  # mean fusion: 57.00 > 56.50
    assert best['fusion']['student mean, test'] == hand_cell(
        per_seed(MEANFUSION, 'student', 'mean'), per_seed(MEANFUSION, 'expert', 'mean')
    )
    assert '1 seed run(s) failed were left out.' in md
    assert 'reported in the paper, not reproduced here' in md.lower()
    assert 'jedi study run studies/gamma.yaml' in md and '`abc1234`' in md and 'f' * 64 in md


def test_files_exist_and_are_not_trivial(report_dir, md):
    import matplotlib.image as mpimg
    import pandas as pd

    links = re.findall(r'!\[[^\]]*\]\(([^)]+)\)', md)
    assert 'figures/learning_curves.png' in links and 'figures/importance_search.png' in links
    assert 'figures/ablation_gamma.png' in links and 'figures/ablation_labelfrac.png' in links
    for link in links:
        assert not link.startswith('/') and '://' not in link  # relative links render on GitHub
        png = report_dir / link
        assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 10_000
        assert mpimg.imread(png).std() > 0.05  # not a blank canvas
    prose = re.sub(r'`[^`]*`', '', re.sub(r'```.*?```', '', md, flags=re.S))
    assert not re.search(r'<[A-Za-z/][^>]*>', prose)  # no HTML tags outside code
    main = pd.read_csv(report_dir / 'tables' / 'main.csv')
    # 3 roles x 3 columns for the main configuration + the gamma = 0 baseline's students (3 columns)
    assert len(main) == 12 and set(main.role) == {'expert', 'student', 'teacher'}
    assert (main.config == 'gamma trial 0').sum() == 3
    st = main[(main.role == 'student') & (main.column == 'alpha')].iloc[0]
    assert st['mean'] == pytest.approx(0.63) and st['p'] == pytest.approx(P_TWO_SIDED[2](3 * math.sqrt(3)))
    tex = (report_dir / 'tables' / 'main.tex').read_text()
    assert r'\begin{tabular}{lrrr}' in tex and r'63.00 $\pm$ 2.48 (3)$^{*}$' in tex and r'\bottomrule' in tex
    for name in ('ablation_gamma', 'ablation_fusion', 'ablation_labelfrac', 'search_search'):
        assert len(pd.read_csv(report_dir / 'tables' / f'{name}.csv')) >= 4
        assert (report_dir / 'tables' / f'{name}.tex').stat().st_size > 300


def test_missing_study_is_a_jedi_error_naming_it(store, tmp_path):
    with pytest.raises(JediError, match="named 'nope'"):
        write_report(tmp_path / 'r', studies=['gamma', 'nope'], tracking_uri=store[0])
    assert not (tmp_path / 'r').exists()


def test_runs_mode_follows_children_and_applies_the_fallback_rule(store, tmp_path):
    uri, ids = store[:2]
    out = write_report(tmp_path / 'r', run_ids=[ids['trials'][('fusion', 1)]], tracking_uri=uri)
    md = (out / 'report.md').read_text()
    assert 'Configuration: **fusion trial 1**' in md and 'no configuration has fusion concat' in md
    rows = {r['']: r for r in md_table(md, '## Main results')}
    assert rows['JEDI student']['mean'] == hand_cell(
        per_seed(MEANFUSION, 'student', 'mean'), per_seed(MEANFUSION, 'expert', 'mean')
    )
    with pytest.raises(JediError, match="no MLflow run with id 'deadbeef'"):
        write_report(tmp_path / 'r2', run_ids=['deadbeef'], tracking_uri=uri)


def test_output_is_replaced_atomically(store, tmp_path, monkeypatch):
    from jedi_repro.reporting import report as report_mod

    uri = store[0]
    out = tmp_path / 'r'
    write_report(out, studies=['gamma'], tracking_uri=uri)
    (out / 'stale.txt').write_text('from an older report')
    write_report(out, studies=['gamma'], tracking_uri=uri)
    assert not (out / 'stale.txt').exists() and (out / 'report.md').is_file()

    def boom(*a, **k):
        raise JediError('simulated failure half-way')

    monkeypatch.setattr(report_mod, '_reference_section', boom)
    before = (out / 'report.md').read_bytes()
    with pytest.raises(JediError, match='half-way'):
        write_report(out, studies=['gamma'], tracking_uri=uri)
    assert (out / 'report.md').read_bytes() == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith('.')]  # no temp dir left behind

    (tmp_path / 'notareport').mkdir()
    (tmp_path / 'notareport' / 'precious.txt').write_text('x')
    with pytest.raises(JediError, match='not a report directory'):
        write_report(tmp_path / 'notareport', studies=['gamma'], tracking_uri=uri)
    assert (tmp_path / 'notareport' / 'precious.txt').exists()


def test_experiment_mode_groups_lone_runs_without_the_seed(store, tmp_path):
    import json

    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    uri = store[0]
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment('jedi-train', artifact_location=artifact_location(uri, 'jedi-train'))
    for seed, st in ((0, 0.64), (1, 0.66)):
        run = client.create_run(
            exp,
            tags={
                'jedi.role': 'seed',
                'jedi.seed': str(seed),
                'jedi.dataset_metrics': json.dumps({'alpha': 'top1'}),
            },
        )
        client.log_batch(
            run.info.run_id,
            metrics=[
                Metric('test/alpha/expert/top1', 0.6, 0, 0),
                Metric('test/alpha/student/top1', st, 0, 0),
                Metric('test/alpha/teacher/top1', 0.7, 0, 0),
            ],
            params=[Param('model.gamma', '0.4'), Param('randomness.seed', str(seed))],
        )
        client.set_terminated(run.info.run_id)
    out = write_report(tmp_path / 'r', experiment='jedi-train', tracking_uri=uri)
    rows = {r['']: r for r in md_table((out / 'report.md').read_text(), '## Main results')}
    assert rows['JEDI student']['alpha (top1)'] == hand_cell([0.64, 0.66], [0.6, 0.6])  # one config, n = 2
    text = (out / 'report.md').read_text()
    assert '--cfg-options randomness.seed=1' in text
    assert (
        'so there are no learning curves' in text and not (out / 'figures' / 'learning_curves.png').exists()
    )


def test_cli_exit_codes(store, tmp_path, capsys):
    from jedi_repro.cli import main

    uri = store[0]
    assert main(['report', '--study', 'gamma', '--out', str(tmp_path / 'r'), '--tracking-uri', uri]) == 0
    assert (tmp_path / 'r' / 'report.md').is_file()
    assert main(['report', '--study', 'nope', '--out', str(tmp_path / 'x'), '--tracking-uri', uri]) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and "'nope'" in err and 'Traceback' not in err


def test_choices_follow_validation_when_test_disagrees(tmp_path):
    """Two configurations off the default (alpha 0.5 / 2.0): one best on validation and at chance on test
    (test labels shuffled), one the reverse. The main table and the best configuration take the first."""
    import time

    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    uri = f'sqlite:///{tmp_path / "flip.db"}'
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment('flip', artifact_location=artifact_location(uri, 'flip'))
    parent = client.create_run(exp, tags={'jedi.role': 'study', 'jedi.study': 'flip'}).info.run_id
    now = int(time.time() * 1000)
    layout = [(0.5, 0.90, 0.20), (2.0, 0.60, 0.80)]  # (alpha, student val, student test)
    for trial, (alpha, val, test) in enumerate(layout):
        tr = client.create_run(exp, tags={'mlflow.parentRunId': parent, 'jedi.role': 'trial',
                                          'jedi.study': 'flip', 'jedi.trial': str(trial)}).info.run_id
        client.log_batch(tr, params=[Param('model.alpha', str(alpha))])
        for seed in (0, 1):
            rid = client.create_run(exp, tags={
                'mlflow.parentRunId': tr, 'jedi.role': 'seed', 'jedi.study': 'flip', 'jedi.trial': str(trial),
                'jedi.seed': str(seed), 'jedi.dataset_metrics': '{"alpha": "top1"}', 'jedi.converged': 'true',
            }).info.run_id
            final = {'student': (val, test), 'teacher': (0.7, 0.7), 'expert': (0.5, 0.5)}
            ms = [Metric(f'{split}/alpha/{role}/top1', v[i] + 0.01 * seed, now, 3)
                  for role, v in final.items() for i, split in enumerate(('val', 'test'))]
            client.log_batch(rid, metrics=ms, params=[Param('model.alpha', str(alpha)),
                                                      Param('model.fusion.type', 'concat'),
                                                      Param('model.gamma', '0.4')])
            client.set_terminated(rid)
        client.set_terminated(tr)
    client.set_terminated(parent)
    config = tmp_path / 'default.py'
    config.write_text("model = dict(alpha=1.0, gamma=0.4, fusion=dict(type='concat'))\n")
    md = (write_report(tmp_path / 'r', studies=['flip'], tracking_uri=uri, default_config=str(config))
          / 'report.md').read_text()
    assert 'Configuration: **flip trial 0**' in md and 'on validation' in md
    best = md_table(md, '## Best configuration')[0]
    assert best['best configuration'] == 'flip trial 0'
    assert best['student mean, val'].startswith('90.50')
    assert best['value, val, % (mean over seeds)'] == '90.50'
    assert best['student mean, test'].startswith('20.50')
    rows = {r['']: r for r in md_table(md, '## Main results')}
    assert rows['JEDI student']['alpha (top1)'].startswith('20.50')  # test reported for what was chosen
    assert 'Protocol: every choice' in md and 'all 4 seed runs reached a validation plateau' in md
