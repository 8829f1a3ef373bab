# JEDI with the paper's settings: concat fusion, alpha = beta = 1, gamma = 0.4, KD = cross-entropy
# against the teacher's softened prediction. The paper's temperature is not known from its abstract;
# tau = 2 (times tau^2, Hinton et al.) is our choice and a searchable key (model.kd_loss.temperature).
# Runs as is on any feature store: shapes, classes and heads come from the store.
_base_ = ['../_base_/jedi_runtime.py']

model = dict(
    type='JEDIModel',
    store=None,                                     # filled in by `jedi train --features`
    alpha=1.0,                                      # student supervised terms
    beta=1.0,                                       # teacher supervised terms
    gamma=0.4,                                      # KD terms
    kd_reduction='dataset_sum',                     # dataset_sum (paper's sum over D_j) | pool_mean
    kd_pool='all',                                  # all (paper: every D_j's pool samples) | own | others
    fusion=dict(type='concat'),                     # concat | mean | attention | logits
    kd_loss=dict(type='ce', temperature=2.0),       # ce | kl | mse
    adjustment=dict(enabled=True, hidden_dim=None),  # residual 2-layer MLP, identity at start
    teacher_dropout=0.5,
)
custom_hooks = [dict(type='JEDIDistillHook', schedule='constant', warmup_epochs=0, stop_epoch=None)]
