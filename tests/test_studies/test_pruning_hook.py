from types import SimpleNamespace

import optuna
import pytest

from jedi_repro.errors import JediError
from jedi_repro.studies.pruning_hook import OptunaPruningHook


def test_reports_and_prunes_below_median():
    study = optuna.create_study(direction='maximize',
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    good = study.ask()
    hook = OptunaPruningHook(good, 'mean/student/top1')
    for epoch in (1, 2):
        hook.after_val_epoch(SimpleNamespace(epoch=epoch), {'mean/student/top1': 0.8})
    study.tell(good, 0.8)
    assert good.study.trials[0].intermediate_values == {1: 0.8, 2: 0.8}
    bad = study.ask()
    hook = OptunaPruningHook(bad, 'mean/student/top1')
    with pytest.raises(optuna.TrialPruned):
        hook.after_val_epoch(SimpleNamespace(epoch=1), {'mean/student/top1': 0.1})


def test_seed_offset_separates_steps():
    study = optuna.create_study()
    trial = study.ask()
    OptunaPruningHook(trial, 'k', step_offset=OptunaPruningHook.STEP_STRIDE).after_val_epoch(
        SimpleNamespace(epoch=2), {'k': 0.5})
    assert study.trials[0].intermediate_values == {OptunaPruningHook.STEP_STRIDE + 2: 0.5}


def test_missing_objective_key_is_named():
    trial = optuna.create_study().ask()
    with pytest.raises(JediError, match='mean/teacher/top1'):
        OptunaPruningHook(trial, 'mean/teacher/top1').after_val_epoch(SimpleNamespace(epoch=1), {'x': 1.0})
