"""Untrained teachers (student-only baseline): null and listed in metrics.json, absent from MLflow keys,
"not trained" in report tables, never selected or monitored on."""
from pathlib import Path

from mmengine.config import Config

from jedi_repro.data.toy import make_toy_store
from jedi_repro.engine.train import train
from jedi_repro.engine.untrained import drop_role_keys, exclude_untrained, mark_untrained, untrained_roles
from jedi_repro.tracking.runs import metrics_from_json

CONFIGS = Path(__file__).resolve().parents[2] / 'mm_configs' / 'jedi'


def test_which_configs_train_no_teacher():
    assert untrained_roles(Config.fromfile(CONFIGS / 'student_baseline.py')) == ('teacher',)
    default = Config.fromfile(CONFIGS / 'jedi_default.py')
    assert untrained_roles(default) == ()
    default.model.beta = 0.0  # the teacher's only gradient (KD targets are detached)
    assert untrained_roles(default) == ('teacher',)


def test_exclude_and_mark_are_pure_bookkeeping():
    assert drop_role_keys(['mean/student/top1', 'mean/teacher/top1'], ('teacher',)) == ['mean/student/top1']
    cfg = Config.fromfile(CONFIGS / 'student_baseline.py')
    exclude_untrained(cfg, ('teacher',))
    assert cfg.val_evaluator.roles == cfg.test_evaluator.roles == ['expert', 'student']
    assert cfg.default_hooks.checkpoint.save_best == ['mean/student/primary']
    assert cfg.default_hooks.plateau.monitors == ['mean/student/primary']
    m = {'datasets': {'a': {'student': {'top1': 0.5}, 'teacher': {}}}, 'mean': {'teacher': {}},
         'val': {'datasets': {'a': {'teacher': {}}}, 'mean': {'teacher': {}}},
         'selection': {'teacher': {'epoch': 3}}}
    mark_untrained(m, ('teacher',))
    assert m['untrained'] == ['teacher'] and m['selection']['teacher'] is None
    assert m['datasets']['a']['teacher'] is None and m['val']['mean']['teacher'] is None
    assert m['datasets']['a']['student'] == {'top1': 0.5}


class _Seen:
    def __init__(self):
        from mmengine.hooks import Hook

        seen = self.seen = []

        class Rec(Hook):
            def after_val_epoch(self, runner, metrics=None):
                seen.append(dict(metrics))
        self.hook = Rec()


def test_student_baseline_reports_no_teacher_numbers(tmp_path):
    store = make_toy_store(tmp_path / 'store', n_datasets=2, n_classes=4, dim=8, n_train=60, n_val=30,
                           n_test=30, seed=0).path
    rec = _Seen()
    m = train(str(CONFIGS / 'student_baseline.py'), features=store, work_dir=tmp_path / 'wd',
              cfg_options={'train_cfg.max_epochs': 2}, extra_hooks=[rec.hook])
    assert m['untrained'] == ['teacher'] and m['selection']['teacher'] is None
    for block in (m, m['val']):
        assert block['mean']['teacher'] is None and block['mean']['student']['top1'] >= 0
        assert all(d['teacher'] is None and d['expert'] for d in block['datasets'].values())
    assert rec.seen and not any('/teacher/' in k for epoch in rec.seen for k in epoch)  # MLflow's curves
    assert set(m['convergence']['monitors']) == {'mean/student/primary'}
    flat = metrics_from_json(m)
    assert 'test/mean/student/top1' in flat and not any('/teacher/' in k for k in flat)
    # JEDI itself still reports its teachers
    m = train(str(CONFIGS / 'jedi_default.py'), features=store, work_dir=tmp_path / 'wd2',
              cfg_options={'train_cfg.max_epochs': 1})
    assert m['untrained'] == [] and m['mean']['teacher']['top1'] >= 0


def test_report_tables_say_not_trained():
    from jedi_repro.reporting.runs import Configuration, RunSet, SeedRun
    from jedi_repro.reporting.tables import NOT_TRAINED, ablation_table, long_frame, main_table

    def seed(i, teacher, tags):
        final = {('a', 'expert', 'top1'): 0.5, ('a', 'student', 'top1'): 0.6 + i / 100}
        if teacher:
            final[('a', 'teacher', 'top1')] = 0.7
        return SeedRun(f'r{i}{teacher}', 's', i, {}, tags, final, 'test')
    base = Configuration('c1', 's', '0', 't0', {'x': 1},
                         [seed(i, False, {'jedi.untrained': 'teacher'}) for i in range(2)])
    jedi = Configuration('c2', 's', '1', 't1', {'x': 2}, [seed(i, True, {}) for i in range(2)])
    run_set = RunSet([base, jedi], {'a': 'top1'}, ['s'], [], {}, [])
    frame = long_frame(run_set)
    t = ablation_table(frame, run_set, 's', ['x'], [base, jedi])
    rows = {(r['x'], r['role']): r for r in t.display.to_dict('records')}
    assert rows[('1', 'teacher')]['a (top1)'] == NOT_TRAINED and rows[('1', 'teacher')]['mean'] == NOT_TRAINED
    assert rows[('2', 'teacher')]['a (top1)'].startswith('70.00')
    assert rows[('1', 'student')]['a (top1)'].startswith('60.50')
    teacher_row = main_table(frame, run_set, base).display.to_dict('records')[2]
    assert teacher_row[''] == 'JEDI teacher' and teacher_row['mean'] == NOT_TRAINED


