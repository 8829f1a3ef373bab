"""The bad-input corpus: every case through the CLI ends with a one-paragraph error that names the file or
field, exit status 1, no traceback, and nothing written (no work dir, no store, no MLflow run)."""
import json
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
    ('checkpoint-save-bests', tr('default_hooks.checkpoint.save_bests=mean/teacher/top1'),
     ['default_hooks.checkpoint.save_bests']),
    ('checkpoint-rules', tr('default_hooks.checkpoint.rules=less'), ['default_hooks.checkpoint.rules']),
    ('checkpoint-max-keep-ckpt', tr('default_hooks.checkpoint.max_keep_ckpt=1'),
     ['default_hooks.checkpoint.max_keep_ckpt']),
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
    ('config-file-top-level-typo', tr(config='{stores}/child_toplevel.py'), ['child_toplevel.py', 'lod_from']),
    ('config-file-optimizer-type', tr(config='{stores}/child_optimizer.py'),
     ['child_optimizer.py', 'optim_wrapper.optimizer.type', 'Adamw']),
    # settings that cannot take effect
    ('eval-batch-size-0', tr('data.eval_batch_size=0'), ['data.eval_batch_size']),
    ('eval-batch-size-text', tr('data.eval_batch_size=big'), ['data.eval_batch_size']),
    ('kd-empty-pool-batch', tr('data.unlabeled_batch_size=0'),
     ['model.gamma=0.4', 'data.unlabeled_batch_size=0']),
    ('kd-empty-pool-datasets', tr('data.unlabeled_datasets=[]'), ['model.gamma', 'data.unlabeled_datasets']),
    ('all-weights-zero', tr('model.alpha=0', 'model.beta=0', 'model.gamma=0'),
     ['model.alpha=0', 'model.gamma=0', 'no gradient']),
    ('baseline-alpha-zero', tr('model.alpha=0', config=str(REPO / 'mm_configs/jedi/student_baseline.py')),
     ['model.alpha=0', 'no gradient']),
    ('gamma-bool', tr('model.gamma=True'), ['model.gamma=True', 'boolean']),
    ('labeled-fraction-bool', tr('data.labeled_fraction=True'), ['data.labeled_fraction', 'boolean']),
    ('one-class-dataset', tr(store='one_class'), ['ds0', '1 class']),
    # the store's bytes are what its manifest says, or no run starts
    ('features-changed-in-place', tr(store='changed'), ['features/e1/ds0/val.npy', 'sha256 differs']),
    ('info-verify-changed', lambda t, s, v: ['features', 'info', str(s / 'changed'), '--verify'],
     ['features/e1/ds0/val.npy', 'sha256']),
    ('npz-empty-val', lambda t, s, v: ['features', 'import-npz', '--out', str(t / 'store'), '--dataset',
                                       f'ds0={s / "empty_val.npz"}', '--expert', f'e0=ds0:{s / "head.npz"}'],
     ['empty_val.npz', 'y_val', '0 rows']),
    # finished runs
    ('resume-and-overwrite', lambda t, s, v: train(s / 'good') + ['--resume', '--overwrite'],
     ['--resume', '--overwrite']),
    # studies: duplicate YAML keys at any depth, empty names, flags like the spec's fields
    ('spec-duplicate-seeds', raw_spec(RAW_SPEC + 'seeds: [0]\nseeds: [0, 1, 2]\n'
                                      'space: {{model.gamma: {{type: grid, values: [0.0]}}}}\n'),
     ["'seeds'", 'twice', 'raw.yaml']),
    ('spec-duplicate-space-key', raw_spec(RAW_SPEC + 'space:\n  model.gamma: {{type: grid, values: [0.0, 0.4]}}\n'
                                          '  model.gamma: {{type: grid, values: [0.8]}}\n'),
     ["'model.gamma'", 'twice']),
    ('spec-duplicate-nested', raw_spec(RAW_SPEC + 'space:\n  model.gamma:\n    type: grid\n    values: [0.0]\n'
                                       '    values: [0.4]\n'), ["'values'", 'twice']),
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


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_corpus_is_large_enough():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize('build,expected', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_a_clear_error(build, expected, stores, video_roots, tmp_path, capsys):
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
