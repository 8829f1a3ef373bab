"""FiniteLossHook reads the loss without autograd's UserWarning (it leaked into the quiet console)."""
import warnings
from types import SimpleNamespace

import pytest
import torch

from jedi_repro.engine.hooks.finite_loss_hook import FiniteLossHook
from jedi_repro.errors import JediError


def test_a_loss_that_requires_grad_is_read_without_a_warning():
    w = torch.ones(3, requires_grad=True)
    loss = (w * 2).sum()
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        FiniteLossHook().after_train_iter(SimpleNamespace(epoch=0), 0, outputs={'loss': loss, 'ce': loss})


def test_a_nan_loss_still_fails_naming_the_terms():
    w = torch.ones(1, requires_grad=True)
    nan = (w * float('nan')).sum()
    with pytest.raises(JediError, match='ce nan'):
        FiniteLossHook().after_train_iter(SimpleNamespace(epoch=0), 0, outputs={'loss': nan, 'ce': nan})
