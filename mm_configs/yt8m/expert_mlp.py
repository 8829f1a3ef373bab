# A video-level expert for the YouTube-8M benchmark: VideoLevelMLP backbone + MMAction2 TSNHead, trained
# with mmengine's Runner on one dataset's labelled train subset; the best val top-1 epoch is kept.
# jedi_repro.experts.video_level_expert.expert_config fills in modality, widths, classes and files.
default_scope = 'mmaction'
custom_imports = dict(imports=['jedi_repro.experts.video_level_expert'], allow_failed_imports=False)

model = dict(
    type='VideoLevelRecognizer',
    backbone=dict(type='VideoLevelMLP', modality='rgb+audio', hidden=256, num_layers=1, dropout=0.2),
    cls_head=dict(type='TSNHead', num_classes=2, in_channels=256, spatial_type=None,
                  consensus=dict(type='AvgConsensus', dim=1), dropout_ratio=0.5, init_std=0.01,
                  average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor'))

pipeline = [dict(type='PackActionInputs')]
train_dataloader = dict(
    batch_size=64, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='VideoFeatureDataset', ann_file='', pipeline=pipeline))
val_dataloader = dict(
    batch_size=512, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='VideoFeatureDataset', ann_file='', pipeline=pipeline, test_mode=True))
val_evaluator = dict(type='AccMetric', metric_list=('top_k_accuracy', 'mean_class_accuracy'))

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=30, val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-2))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=30, by_epoch=True, eta_min=1e-5)]

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1000),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # interval > max_epochs: only the best checkpoint is written
    checkpoint=dict(type='CheckpointHook', interval=10000, save_best='acc/top1', rule='greater',
                    save_last=False),
    sampler_seed=dict(type='DistSamplerSeedHook'))

env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
# INFO: the run's log file holds every epoch; the quiet console shows errors only (jedi_repro/console.py)
log_level = 'INFO'
load_from = None
resume = False
