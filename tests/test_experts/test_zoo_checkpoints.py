"""Expert checkpoints load strictly (jedi_repro/experts/checkpoint.py): every mm_configs/paper/ config takes a
checkpoint in the model zoo's layout (and its DDP ``module.`` variant) through ``build_expert``, and refuses
one with a missing, unexpected, misshaped or renamed key, a backbone-only one, another label space's and
another architecture's, naming the file and the keys."""
from pathlib import Path

import pytest
import torch

from jedi_repro.data.files import load_expert_state, strip_ddp_prefix
from jedi_repro.errors import JediError
from jedi_repro.experts.checkpoint import compare_state, guess_renames, likely_cause, rename_rules
from jedi_repro.experts.config import load_expert_config
from jedi_repro.experts.extract import build_expert

PAPER = Path(__file__).resolve().parents[2] / 'mm_configs' / 'paper'
NAMES = ('kinetics400_tsn_r50', 'ucf101_c3d', 'hmdb51_tsn_r50', 'activitynet_tsn_r50')


# ------------------------------------------------------------------------------------ pure functions
def test_compare_state_kinds():
    model = {'backbone.conv.weight': (8, 3), 'backbone.bn.num_batches_tracked': (),
             'cls_head.fc.weight': (5, 8)}
    ckpt = {'backbone.conv.weight': (8, 4), 'cls_head.fc.weight': (5, 8), 'extra': (1,)}
    diff = compare_state(model, ckpt)
    assert diff.missing == []  # num_batches_tracked may be absent (deliberate, see the module docstring)
    assert diff.unexpected == ['extra']
    assert diff.misshaped == [('backbone.conv.weight', (8, 4), (8, 3))]
    assert diff.shared == 1 and bool(diff)
    assert not compare_state(model, {**model, 'backbone.bn.num_batches_tracked': ()})
    # present, num_batches_tracked is checked like any key
    assert compare_state(model, {**model, 'backbone.bn.num_batches_tracked': (2,)}).misshaped


def test_renames_are_guessed_by_suffix_and_shape():
    model = {'backbone.layer1.conv.weight': (4, 4), 'backbone.layer2.conv.weight': (4, 4),
             'cls_head.fc_cls.weight': (3, 4)}
    ckpt = {'encoder.layer1.conv.weight': (4, 4), 'encoder.layer2.conv.weight': (4, 4),
            'cls_head.fc_cls.weight': (3, 4)}
    diff = compare_state(model, ckpt)
    assert diff.renamed == [('encoder.layer1.conv.weight', 'backbone.layer1.conv.weight'),
                            ('encoder.layer2.conv.weight', 'backbone.layer2.conv.weight')]
    assert rename_rules(diff.renamed) == [('encoder.', 'backbone.', 2)]
    assert "'encoder.' -> 'backbone.' (2 key(s))" in likely_cause(diff, model)
    # same suffix but another shape, or two equally good candidates: no guess
    assert guess_renames(['a.w'], ['b.w'], {'a.w': (2,)}, {'b.w': (3,)}) == []
    assert guess_renames(['a.x.w'], ['b.x.w', 'c.x.w'], {'a.x.w': (2,)}, {'b.x.w': (2,), 'c.x.w': (2,)}) == []


def test_likely_causes():
    model = {f'backbone.l{i}.weight': (4,) for i in range(4)} | {'cls_head.fc_cls.weight': (5, 4),
                                                                 'cls_head.fc_cls.bias': (5,)}
    backbone_only = {k: v for k, v in model.items() if k.startswith('backbone.')}
    assert 'backbone only' in likely_cause(compare_state(model, backbone_only), model)
    one_head_key = {k: v for k, v in model.items() if k != 'cls_head.fc_cls.bias'}
    assert 'backbone only' not in likely_cause(compare_state(model, one_head_key), model)
    other_classes = {**model, 'cls_head.fc_cls.weight': (7, 4), 'cls_head.fc_cls.bias': (7,)}
    assert '7 outputs' in likely_cause(compare_state(model, other_classes), model)
    other_arch = {'backbone.conv1a.weight': (3,), 'cls_head.fc_cls.weight': (5, 9)}
    assert 'another architecture' in likely_cause(compare_state(model, other_arch), model)


class Payload:
    """An object a weights-only load must never reconstruct."""


def test_layouts_zoo_bare_ddp_and_refused_files(tmp_path):
    sd = {'backbone.w': torch.arange(3.0), 'cls_head.b': torch.ones(2)}
    for name, obj in {'zoo': dict(state_dict=sd, meta=dict(epoch=3), optimizer=dict(lr=torch.tensor(0.1))),
                      'bare': sd, 'ddp': {f'module.{k}': v for k, v in sd.items()}}.items():
        torch.save(obj, tmp_path / f'{name}.pth')
        for mmap in (False, True):
            state, meta = load_expert_state(tmp_path / f'{name}.pth', mmap=mmap)
            assert sorted(state) == sorted(sd) and torch.equal(state['backbone.w'], sd['backbone.w'])
            assert meta == ({'epoch': 3} if name == 'zoo' else {})
    assert strip_ddp_prefix({'module.a': 1, 'b': 2}) == {'module.a': 1, 'b': 2}  # mixed: left to the check
    # PyTorch's legacy (non-zip) format cannot be memory-mapped: read in full instead
    torch.save(dict(state_dict=sd), tmp_path / 'legacy.pth', _use_new_zipfile_serialization=False)
    assert sorted(load_expert_state(tmp_path / 'legacy.pth', mmap=True)[0]) == sorted(sd)
    torch.save(dict(state_dict=sd, meta=dict(x=Payload())), tmp_path / 'object.pth')
    with pytest.raises(JediError, match='object.pth with weights_only=True'):
        load_expert_state(tmp_path / 'object.pth')
    torch.save(dict(weights=1), tmp_path / 'nostate.pth')
    with pytest.raises(JediError, match='nostate.pth holds no `state_dict`'):
        load_expert_state(tmp_path / 'nostate.pth')


# ------------------------------------------------------------------------ the paper configs, public path
@pytest.fixture(scope='module')
def zoo(tmp_path_factory):
    """Per paper config: its config, a state dict with its model's keys, shapes and dtypes, and that state
    dict saved in the zoo's layout ``{'state_dict', 'meta'}``, as mmengine writes it for
    ``MODELS.build(cfg.model)``.

    The model is built on the meta device (no weights) and each tensor is a constant view, ``k + 1`` for the
    k-th key: the files are kilobytes instead of up to 300 MB (C3D) and a loaded model shows which tensor
    went where. ``test_a_dense_checkpoint_loads_bit_for_bit`` loads an ordinary dense one.
    """
    from jedi_repro.experts.checkpoint import expected_shapes

    root = tmp_path_factory.mktemp('zoo')
    out = {}
    for name in NAMES:
        cfg = load_expert_config(PAPER / f'{name}.py', data_root=root / 'data')
        state = {k: torch.full((), i + 1, dtype=dtype).expand(shape)
                 for i, (k, (shape, dtype)) in enumerate(expected_shapes(cfg, dtypes=True).items())}
        path = root / f'{name}.pth'
        torch.save(dict(state_dict=state, meta=dict(config=f'mm_configs/paper/{name}.py')), path)
        out[name] = (cfg, state, path)
    return out


def _save(path: Path, state: dict) -> Path:
    torch.save(dict(state_dict=state, meta={}), path)
    return path


# Every config in the zoo's layout; the DDP variant (stripped by the reader whatever the network, see
# test_layouts_zoo_bare_ddp_and_refused_files) for each of the two architectures: the HMDB51 and ActivityNet
# TSNs are the Kinetics-400 TSN with another head size.
LOADS = [(name, 'zoo') for name in NAMES] + [('kinetics400_tsn_r50', 'ddp'), ('ucf101_c3d', 'ddp')]


@pytest.mark.parametrize('name,layout', LOADS, ids=[f'{n}-{lay}' for n, lay in LOADS])
def test_paper_config_loads_its_zoo_checkpoint(zoo, name, layout, tmp_path):
    cfg, state, path = zoo[name]
    if layout == 'ddp':  # a DDP-wrapped model's state dict: every key under `module.`
        path = _save(tmp_path / 'ddp.pth', {f'module.{k}': v for k, v in state.items()})
    model = build_expert(cfg, path, device='cpu')
    loaded = model.state_dict()
    assert sorted(loaded) == sorted(state)
    assert all(loaded[k].shape == v.shape and bool((loaded[k] == v[()]).all()) for k, v in state.items())
    assert not model.training


def test_a_dense_checkpoint_loads_bit_for_bit(zoo, tmp_path):
    """An ordinary checkpoint (dense random tensors), here without BatchNorm's `num_batches_tracked`, as
    converted weights often are: accepted, every tensor loaded bit for bit, the model keeps its own count."""
    cfg, const, _ = zoo['kinetics400_tsn_r50']
    torch.manual_seed(0)
    state = {k: torch.randn(v.shape) for k, v in const.items() if not k.endswith('num_batches_tracked')}
    assert 0 < len(state) < len(const)
    loaded = build_expert(cfg, _save(tmp_path / 'dense.pth', state), device='cpu').state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    assert all(int(v) == 0 for k, v in loaded.items() if k.endswith('num_batches_tracked'))


def _refused(cfg, path, *expected):
    with pytest.raises(JediError) as e:
        build_expert(cfg, path, device='cpu')
    msg = str(e.value)
    assert msg.startswith(f'checkpoint {path} does not fit the model of ') and '\n' not in msg, msg
    for text in expected:
        assert text in msg, f'{text!r} not in: {msg}'
    return msg


def test_tsn_refuses_missing_unexpected_misshaped_renamed(zoo, tmp_path):
    cfg, state, _ = zoo['kinetics400_tsn_r50']
    missing = {k: v for k, v in state.items() if k != 'backbone.layer2.0.conv1.conv.weight'}
    _refused(cfg, _save(tmp_path / 'missing.pth', missing),
             "1 model key(s) missing from it ('backbone.layer2.0.conv1.conv.weight')")
    _refused(cfg, _save(tmp_path / 'unexpected.pth', {**state, 'cls_head.fc_extra.weight': torch.zeros(2)}),
             "1 unexpected key(s) ('cls_head.fc_extra.weight')")
    small_kernel = {**state, 'backbone.conv1.conv.weight': torch.zeros(64, 3, 3, 3)}
    _refused(cfg, _save(tmp_path / 'shape.pth', small_kernel),
             "'backbone.conv1.conv.weight' [64, 3, 3, 3] in the checkpoint vs [64, 3, 7, 7] in the model")
    renamed = {(f'model.{k}' if k.startswith('backbone.layer4.') else k): v for k, v in state.items()}
    _refused(cfg, _save(tmp_path / 'renamed.pth', renamed), 'missing from it', 'unexpected key(s)',
             "'model.backbone.layer4.0.conv1.bn.bias' is probably 'backbone.layer4.0.conv1.bn.bias'",
             "prefix 'model.' to drop")


def test_backbone_only_and_other_label_space_are_refused_for_extraction(zoo, tmp_path):
    cfg, state, _ = zoo['kinetics400_tsn_r50']
    backbone = {k: v for k, v in state.items() if k.startswith('backbone.')}
    _refused(cfg, _save(tmp_path / 'backbone.pth', backbone), 'cls_head.fc_cls.weight', 'backbone only',
             'jedi.init_backbone')
    # the HMDB51 TSN's checkpoint into the Kinetics-400 TSN: same network, 51 classes instead of 400
    _refused(cfg, zoo['hmdb51_tsn_r50'][2],
             "'cls_head.fc_cls.weight' [51, 2048] in the checkpoint vs [400, 2048]", 'another label space')


def test_another_architecture_is_refused_both_ways(zoo):
    tsn, c3d = zoo['kinetics400_tsn_r50'], zoo['ucf101_c3d']
    _refused(tsn[0], c3d[2], 'kinetics400_tsn_r50.py (Recognizer2D with ResNet)',
             'backbone.conv1.bn.bias', 'backbone.conv1a.conv.bias', 'another architecture',
             'meta names the config mm_configs/paper/ucf101_c3d.py')
    _refused(c3d[0], tsn[2], 'ucf101_c3d.py (Recognizer3D with C3D)', 'another architecture')


def test_head_of_a_ddp_checkpoint_when_every_block_is_cached(tiny_root, untrained_expert, tmp_path):
    """With every block cached, `jedi extract` takes the head from the file, not a model: same layouts."""
    from jedi_repro.experts.extract import ExpertSpec, _head_from_checkpoint

    config, ckpt = untrained_expert
    state, _ = load_expert_state(ckpt)
    ddp = _save(tmp_path / 'ddp.pth', {f'module.{k}': v for k, v in state.items()})
    w, b = _head_from_checkpoint(ExpertSpec(Path(config), ddp).load(tiny_root))
    assert (w == state['cls_head.fc2.weight'].numpy()).all()
    assert (b == state['cls_head.fc2.bias'].numpy()).all()
