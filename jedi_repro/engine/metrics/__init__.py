"""Evaluation metrics (registered in the MMAction2 ``METRICS`` registry)."""
from jedi_repro.engine.metrics.jedi_metric import (
                                                   JEDIMetric,
                                                   average_precision,
                                                   classification_metrics,
                                                   mean_average_precision,
)

__all__ = ['JEDIMetric', 'classification_metrics', 'average_precision', 'mean_average_precision']
