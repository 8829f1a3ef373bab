# The ActivityNet-like expert: the Kinetics-like expert's backbone fine-tuned on the untrimmed
# ActivityNet-like clips with a new 6-class head. UniformSample spreads 8 frames over the whole 16-frame
# clip, so the action segment is seen wherever it lies; the classes are closed under horizontal
# mirroring, so Flip is label-preserving. Measured (demo preset, seed 0): 0.808 test top-1, mAP 0.872
# (chance 0.167); R(2+1)D from scratch (from_scratch/; earlier preset, 10 test clips per class) reached
# 0.433, mAP 0.459.
_base_ = ['./_base_/runtime.py', './_base_/r3d18_slim.py', './_base_/clips_8x32.py']

dataset_name = 'anet_like'
model = dict(cls_head=dict(num_classes=6))  # replaced by the data root's class count
# init_backbone: the expert whose exported backbone initialises this one (trained first by `jedi demo`;
# for `jedi experts train` its default work dir, or --cfg-options jedi.init_backbone_checkpoint=PATH).
jedi = dict(feature_layer='cls_head.fc_cls', init_backbone='r3d18_kinetics_like')

# untrimmed clips: 8 frames spread over the whole clip
train_pipeline = [
    dict(type='DecordInit'),
    dict(type='UniformSample', clip_len=8),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 36)),
    dict(type='RandomCrop', size=32),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='UniformSample', clip_len=8, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 36)),
    dict(type='CenterCrop', crop_size=32),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')]
test_pipeline = val_pipeline
