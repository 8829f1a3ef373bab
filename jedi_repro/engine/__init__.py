"""jedi_repro.engine: hooks, metrics and ``train()``; importing it registers the hook and the metric."""
from jedi_repro.engine import hooks, metrics, precision  # noqa: F401  (registration)
