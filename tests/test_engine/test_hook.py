import pytest

from jedi_repro.engine.hooks import JEDIDistillHook, gamma_factor
from jedi_repro.errors import JediError
from jedi_repro.registry import HOOKS


def test_gamma_schedules():
    assert gamma_factor('constant', 0.0) == 1.0
    assert gamma_factor('linear', 0.5, warmup_epochs=2) == 0.25
    assert gamma_factor('linear', 3.0, warmup_epochs=2) == 1.0
    assert gamma_factor('constant', 4.0, stop_epoch=4) == 0.0
    assert gamma_factor('linear', 1.0, warmup_epochs=2, stop_epoch=4) == 0.5


def test_hook_is_registered_and_validates():
    hook = HOOKS.build(dict(type='JEDIDistillHook', schedule='linear', warmup_epochs=1))
    assert isinstance(hook, JEDIDistillHook)
    with pytest.raises(JediError, match='schedule'):
        JEDIDistillHook(schedule='cosine')
    with pytest.raises(JediError, match='gamma'):
        JEDIDistillHook(gamma=-1)


class _Hub:
    def __init__(self):
        self.scalars = {}

    def update_scalar(self, k, v):
        self.scalars[k] = v


class _Runner:
    def __init__(self, model):
        self.model, self.epoch, self.message_hub, self.train_dataloader = model, 1, _Hub(), range(4)


def test_hook_switches_distill_sets_gamma_per_iter_and_logs():
    class M:
        distill, gamma, current_gamma, last_stats = False, 0.4, 0.4, {'agree_a': 0.75}

    runner = _Runner(M())
    hook = JEDIDistillHook(schedule='linear', warmup_epochs=2)
    hook.before_train(runner)
    assert runner.model.distill is True
    hook.before_train_iter(runner, batch_idx=2)  # epoch 1 + 2/4 = 1.5 of 2 warm-up epochs
    assert runner.model.current_gamma == pytest.approx(0.4 * 0.75)
    hook.after_train_iter(runner, batch_idx=2)
    assert runner.message_hub.scalars == {'train/gamma': pytest.approx(0.3), 'train/agree_a': 0.75}
