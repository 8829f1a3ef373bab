# Data and schedule of the demo experts: 8-frame clips, resized to 36 px and cropped to 32 px, horizontal
# Flip (label-preserving for the UCF-, HMDB- and ActivityNet-like classes; the Kinetics-like expert drops
# it). The dataloaders name no path and no pipeline: `load_expert_config` (jedi_repro/experts/config.py,
# `resolve_data`) fills ann_file and data_prefix from data_root + dataset_name, the pipelines from
# train_pipeline / val_pipeline / test_pipeline, and cls_head.num_classes from the data root, after the
# child config and any --data-root / --cfg-options. So a child config that sets any of these changes
# every loader.
data_root = 'data/jedi_synth'  # a data root (`jedi data init` / `jedi synth --out`); --data-root sets it
clip_len = 8

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=1, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 36)),
    dict(type='RandomCrop', size=32),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=1, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 36)),
    dict(type='CenterCrop', crop_size=32),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')]
test_pipeline = val_pipeline

train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='VideoDataset'))
val_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='VideoDataset', test_mode=True))
test_dataloader = val_dataloader

max_epochs = 8
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=1)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=5e-4, weight_decay=1e-4), clip_grad=dict(max_norm=20))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True,
                        convert_to_iter_based=True)]
