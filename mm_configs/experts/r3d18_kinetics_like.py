# The Kinetics-like expert, the pretraining source of the others: the slim 3D ResNet-18 of
# _base_/r3d18_slim.py trained from scratch on the largest, cleanest, fully labelled synthetic dataset
# (16 fine classes, 640 clips), as Kinetics-400 checkpoints are the starting point of MMAction2's UCF101,
# HMDB51 and ActivityNet models. Its classes include left/right directions, so no horizontal Flip (it
# would swap labels). Measured (demo preset, seed 0): 0.881 test top-1 (chance 0.062).
_base_ = ['./_base_/runtime.py', './_base_/r3d18_slim.py', './_base_/clips_8x32.py']

dataset_name = 'kinetics_like'
model = dict(cls_head=dict(num_classes=16))  # replaced by the data root's class count
jedi = dict(feature_layer='cls_head.fc_cls')

# left/right classes: no Flip
train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=8, frame_interval=1, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 36)),
    dict(type='RandomCrop', size=32),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')]
