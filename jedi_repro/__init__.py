"""jedi_repro: an experiment harness to reproduce, ablate and extend JEDI (arXiv 2308.04934)."""
from jedi_repro import compat

compat.install()  # the mmengine fixes apply when mmengine is imported (a light `jedi --help`)

__version__ = '0.1.0'
