"""Every configuration key takes effect or is refused (jedi_repro/engine/config_check.py)."""
import pytest

from jedi_repro.engine.config_check import accepted_args
from jedi_repro.engine.train import _register_all, apply_cfg_options, check_config, load_config
from jedi_repro.errors import JediError
from jedi_repro.resources import locate

CONFIG = 'mm_configs/jedi/jedi_default.py'


def _leaves(node, prefix=''):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, f'{prefix}{k}.')
    elif isinstance(node, (list, tuple)) and node and all(isinstance(v, dict) for v in node):
        for i, v in enumerate(node):
            yield from _leaves(v, f'{prefix}{i}.')
    else:
        yield prefix[:-1]


def _typos(key):
    head, _, last = key.rpartition('.')
    pre = f'{head}.' if head else ''
    return {f'{pre}{last}s', f'{pre}{last[:-1]}', f'{pre}{last[1:]}{last[0]}'} - {key}


def test_every_misspelt_leaf_of_the_default_config_is_refused():
    """Issue 20 found 12 of 140 misspellings accepted and ignored (CheckpointHook's **kwargs); now none."""
    _register_all()
    base = load_config(str(locate(CONFIG)))
    skip = ('custom_imports', 'default_scope')
    leaves = [k for k in _leaves(base.to_dict()) if k.split('.')[0] not in skip]
    assert len(leaves) > 50
    accepted = []
    tried = 0
    for key in leaves:
        for typo in _typos(key):
            if typo in leaves:
                continue
            cfg = load_config(base)
            try:
                apply_cfg_options(cfg, {typo: 1})
                check_config(cfg)
            except JediError:
                tried += 1
                continue
            accepted.append(typo)
    assert accepted == [], accepted
    assert tried > 150  # 66 leaves x up to 3 misspellings each


def test_checkpoint_hook_kwargs_are_not_arguments():
    from mmengine.hooks import CheckpointHook
    args = accepted_args(CheckpointHook)
    assert {'save_best', 'rule', 'max_keep_ckpts', 'interval'} <= args
    assert not {'save_bests', 'rules', 'max_keep_ckpt'} & args


def test_kwargs_forwarded_to_the_parent_count_its_arguments():
    class Base:
        def __init__(self, a=1, b=2):
            pass

    class Child(Base):
        def __init__(self, c=3, **kwargs):
            super().__init__(**kwargs)

    class Opaque:
        def __init__(self, **kwargs):
            self.kw = kwargs

    class NoInit:
        pass

    assert accepted_args(Child) == {'a', 'b', 'c'}
    assert accepted_args(Opaque) is None  # cannot be known: not refused
    assert accepted_args(NoInit) == set()


def test_new_model_arguments_are_read_from_the_constructor(monkeypatch):
    """A key another change adds to JEDIModel's signature (e.g. model.kd_pool) needs no list edited."""
    import inspect

    from jedi_repro.models.jedi_model import JEDIModel
    sig = inspect.signature(JEDIModel.__init__)
    params = [*sig.parameters.values()]
    extra = inspect.Parameter('kd_pool_test', inspect.Parameter.KEYWORD_ONLY, default='all')
    monkeypatch.setattr(JEDIModel.__init__, '__signature__', sig.replace(parameters=[*params, extra]),
                        raising=False)
    cfg = load_config(str(locate(CONFIG)))
    apply_cfg_options(cfg, {'model.kd_pool_test': 'own'})
    check_config(cfg)
    cfg = load_config(str(locate(CONFIG)))
    with pytest.raises(JediError, match='model.kd_pool_tset'):
        apply_cfg_options(cfg, {'model.kd_pool_tset': 'own'})
