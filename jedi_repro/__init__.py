"""jedi_repro: an experiment harness to reproduce, ablate and extend JEDI (arXiv 2308.04934)."""
from jedi_repro import compat

compat.apply()

__version__ = '0.1.0'
