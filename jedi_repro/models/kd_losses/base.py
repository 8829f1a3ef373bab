"""What every KD loss checks of its arguments."""
from __future__ import annotations

import math

from jedi_repro.errors import JediError


def temperature_arg(value) -> float:
    """``model.kd_loss.temperature`` as a float; 0, negative or non-finite is refused (it divides logits)."""
    try:
        t = float(value)
    except (TypeError, ValueError):
        t = math.nan
    if not math.isfinite(t) or t <= 0:
        raise JediError(f'model.kd_loss.temperature={value!r} must be a finite number > 0')
    return t
