"""The embedded synthetic multi-domain video benchmark (``jedi synth``); design in README.md."""
from jedi_repro.data.synth.datasets import DATASETS, PRESETS, DatasetSpec, get_dataset  # noqa: F401
from jedi_repro.data.synth.generate import generate  # noqa: F401
