# Not a demo expert (the demo fine-tunes r3d18_hmdb_like.py from the Kinetics-like backbone). Trained
# from scratch for 24 epochs on the demo preset (seed 0, 6 val clips per class) it reached 0.18-0.25 test
# top-1 (chance 0.167), against 0.68-0.73 for the fine-tuned R3D-18. Kept as a working X3D config (the
# extraction tests use it for its `cls_head.fc2` feature layer).
# X3D (gamma_w=0.5, gamma_d=0.5: a CPU-sized X3D-XS) trained on the small, hard HMDB-like data. Its classes
# are closed under horizontal mirroring (rise holds up-left and up-right, ...), so Flip is label-preserving.
_base_ = ['../_base_/runtime.py']

dataset_name = 'hmdb_like'
data_root = 'data/jedi_synth'  # benchmark root (`jedi synth --out`); `jedi experts train --data-root` sets it
num_classes = 6
clip_len = 8
jedi = dict(dataset=dataset_name, feature_layer='cls_head.fc2')

model = dict(
    type='Recognizer3D',
    backbone=dict(type='X3D', gamma_w=0.5, gamma_b=1.25, gamma_d=0.5, zero_init_residual=False),
    cls_head=dict(type='X3DHead', in_channels=160, num_classes=num_classes, spatial_type='avg',
                  dropout_ratio=0.3, fc1_bias=False, average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5, 127.5, 127.5], std=[64.0, 64.0, 64.0],
                           format_shape='NCTHW'))

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
    dataset=dict(type='VideoDataset', ann_file=f'{data_root}/{dataset_name}/train_labeled.txt',
                 data_prefix=dict(video=f'{data_root}/{dataset_name}'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='VideoDataset', ann_file=f'{data_root}/{dataset_name}/val.txt',
                 data_prefix=dict(video=f'{data_root}/{dataset_name}'), pipeline=val_pipeline,
                 test_mode=True))
test_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='VideoDataset', ann_file=f'{data_root}/{dataset_name}/test.txt',
                 data_prefix=dict(video=f'{data_root}/{dataset_name}'), pipeline=test_pipeline,
                 test_mode=True))

max_epochs = 24
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=1)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=3e-3, weight_decay=1e-4), clip_grad=dict(max_norm=20))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True,
                        convert_to_iter_based=True)]
