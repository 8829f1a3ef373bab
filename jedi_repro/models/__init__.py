"""JEDI model, fusions and KD losses; importing this package registers them (MODELS, FUSIONS, KD_LOSSES)."""
from jedi_repro.models import fusions, kd_losses  # noqa: F401  (registration)
from jedi_repro.models.adjustment import AdjustmentModule
from jedi_repro.models.jedi_model import JEDIModel
from jedi_repro.models.losses import jedi_loss, supervised_loss

__all__ = ['AdjustmentModule', 'JEDIModel', 'jedi_loss', 'supervised_loss']
