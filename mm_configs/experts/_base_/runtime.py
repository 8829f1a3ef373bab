# Note for every expert: from scratch on a few hundred clips, MMAction2's default zero_init_residual=True
# (last BN of each residual block starts at 0) stalled training at chance in a measured check
# (r3d18: train loss 2.78 -> 2.74 in 3 epochs vs 2.76 -> 1.62 without it), so the backbones turn it off.
# Shared runtime of the CPU-sized synthetic-benchmark experts (mmengine Runner settings only; the model is
# in r3d18_slim.py or the expert's config, data and schedule in clips_8x32.py). Loader paths and the class
# count are derived from data_root + dataset_name when the config is loaded (jedi_repro/experts/config.py).
default_scope = 'mmaction'

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1, save_best='acc/top1',
                    rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    sync_buffers=dict(type='SyncBuffersHook'))

env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='gloo'))

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='ActionVisualizer', vis_backends=vis_backends)
# INFO: the run's log file holds every epoch; the quiet console shows errors only (jedi_repro/console.py)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False, diff_rank_seed=False)

val_evaluator = dict(type='AccMetric', metric_list=('top_k_accuracy', 'mean_class_accuracy'))
test_evaluator = val_evaluator
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
