"""Distillation losses ``KD(student <- teacher)`` on logits (registry ``KD_LOSSES``).

Each is a small pure function plus a registered ``nn.Module`` wrapper called as
``loss(student_logits, teacher_logits, multilabel=False) -> scalar`` (mean over samples). The teacher is
always detached: distillation moves the student towards the teacher, never the reverse.

Multi-label datasets: class probabilities are independent sigmoids instead of one softmax, so ``ce`` is
the binary cross-entropy against ``sigmoid(teacher / tau)`` and ``kl`` the Bernoulli KL, both summed over
classes and averaged over samples (the same reduction as the supervised multi-label term).
"""
from jedi_repro.models.kd_losses.ce import KDCrossEntropy, kd_cross_entropy
from jedi_repro.models.kd_losses.kl import KDKLDivergence, kd_kl_divergence
from jedi_repro.models.kd_losses.mse import KDMSE, kd_mse

__all__ = ['KDCrossEntropy', 'kd_cross_entropy', 'KDKLDivergence', 'kd_kl_divergence', 'KDMSE', 'kd_mse']
