# A small TimeSformer (divided space-time attention, 3 layers, 96-d, 8x8 patches) trained on the
# ActivityNet-like data. UniformSample spreads 8 frames over the whole longer clip, so the action segment
# is seen wherever it lies; its classes are closed under horizontal mirroring, so Flip is label-preserving.
_base_ = ['./_base_/runtime.py']

dataset_name = 'anet_like'
data_root = 'data/jedi_synth'  # benchmark root (`jedi synth --out`); `jedi experts train --data-root` sets it
num_classes = 6
clip_len = 8
jedi = dict(dataset=dataset_name, feature_layer='cls_head.fc_cls')

model = dict(
    type='Recognizer3D',
    backbone=dict(type='TimeSformer', pretrained=None, num_frames=clip_len, img_size=32, patch_size=8,
                  embed_dims=96, num_heads=4, num_transformer_layers=3, in_channels=3, dropout_ratio=0.0,
                  transformer_layers=None, attention_type='divided_space_time',
                  norm_cfg=dict(type='LN', eps=1e-6)),
    cls_head=dict(type='TimeSformerHead', num_classes=num_classes, in_channels=96, average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5, 127.5, 127.5], std=[64.0, 64.0, 64.0],
                           format_shape='NCTHW'))

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='UniformSample', clip_len=clip_len),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 36)),
    dict(type='RandomCrop', size=32),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='UniformSample', clip_len=clip_len, test_mode=True),
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
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4), clip_grad=dict(max_norm=20))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True,
                        convert_to_iter_based=True)]
