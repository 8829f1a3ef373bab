# Runtime shared by the JEDI configs: mmengine loops, optimizer, hooks, logging. `jedi train` (train())
# fills in the feature store and builds the dataloaders from `data`.
default_scope = 'mmaction'
custom_imports = dict(imports=['jedi_repro.models', 'jedi_repro.engine', 'jedi_repro.data.multi_dataset'],
                      allow_failed_imports=False)

# Multi-dataset batches (jedi_repro/data/multi_dataset.py documents the composition).
data = dict(
    labeled_fraction=1.0,        # float, or {dataset: fraction}; combined with the store's labeled_mask
    unlabeled_datasets=None,     # datasets whose train samples form the unlabelled pool; None = all
    labeled_batch_size=32,       # labelled samples per dataset per iteration
    unlabeled_batch_size=128,    # pool samples per iteration
    pool_mix='balanced',         # an equal share of the pool batch per dataset (or: proportional to size);
                                 # with model.kd_reduction='dataset_sum' every dataset's KD mean is as precise
    eval_batch_size=1024,
    iters_per_epoch=None,        # cap on iterations per epoch (None: every labelled and pool sample once);
                                 # on a store of 100k+ videos, a shorter "epoch" validates more often
)

# Train to a validation plateau: ValPlateauHook (default_hooks.plateau) stops once neither the students'
# nor the teachers' mean val top-1 improved for `patience` epochs; max_epochs is only a cap (a run that
# reaches it still improving is reported as not converged). Measured behind these numbers (README,
# "Protocol"): benchmarks/protocol_choices.py.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=150, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
val_evaluator = dict(type='JEDIMetric')
test_evaluator = dict(type='JEDIMetric')

# 'fp32' | 'bf16' | 'auto': bfloat16 autocast for training on CPU and CUDA; 'auto' = bf16 only where the
# device has native bf16 and measured it faster (jedi_repro/engine/precision.py). fp32 by default: bf16
# changes the numbers, and 'auto' would make them depend on the machine's CPU flags.
precision = 'fp32'
# torch intra-op threads: 'auto' (the cores this process may use, less what other jobs keep busy, capped
# by the step's work; an explicit OMP_NUM_THREADS is respected) or N; env JEDI_NUM_THREADS overrides.
# Speed only: not part of the run's record of what it computed (jedi_repro/engine/threads.py).
threads = 'auto'
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4))
param_scheduler = []

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # one best checkpoint per role, chosen on validation: students (and experts) are tested at the first,
    # teachers at the second
    # mean/{role}/primary: the mean of each dataset's primary metric (top-1, or mAP where declared;
    # jedi_repro/aggregates.py), the one mean Optuna, the reports and the console use too
    checkpoint=dict(type='CheckpointHook', interval=-1,
                    save_best=['mean/student/primary', 'mean/teacher/primary'], rule='greater',
                    save_last=False),
    plateau=dict(type='ValPlateauHook', monitors=['mean/student/primary', 'mean/teacher/primary'],
                 patience=10, min_delta=0.0),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # `jedi train --resume`: WORK_DIR/last.pth after every validation, random state reseeded per epoch, so
    # a resumed run ends with the metrics of an uninterrupted one (jedi_repro/engine/hooks/resume_hook.py)
    resume=dict(type='ExactResumeHook', save_last=True),
    # a NaN/inf loss fails the run at once (a diverged run would otherwise report chance as a result)
    finite_loss=dict(type='FiniteLossHook'),
)
# dist_cfg.backend unset: `jedi train --launcher pytorch` picks nccl with CUDA, gloo without
# (jedi_repro/engine/distributed.py); set it here to force one.
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict())
log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)
visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
# Flush denormal floats to zero on CPU (train() sets torch.set_flush_denormal): several times faster
# kernels when very confident softmaxes produce tiny gradients; changes values below 1e-38 only.
flush_denormal = True
