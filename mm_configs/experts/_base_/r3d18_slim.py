# The one architecture of the demo experts: a slim 3D ResNet-18 (I3D-style ResNet3d, 16 base channels, no
# temporal downsampling; 128-d penultimate features). The Kinetics-like expert trains it from scratch and
# is the pretraining source of the other three, which start from its backbone (see
# jedi_repro/data/synth/README.md for the measurements behind this design). Weights can only be
# transferred between identical backbones, so every expert inherits this model and sets only
# `cls_head.num_classes`.
model = dict(
    type='Recognizer3D',
    backbone=dict(type='ResNet3d', depth=18, base_channels=16, pretrained=None, pretrained2d=False,
                  conv1_kernel=(3, 7, 7), conv1_stride_t=1, pool1_stride_t=1, inflate=(1, 1, 1, 1),
                  spatial_strides=(1, 2, 2, 2), norm_eval=False, zero_init_residual=False),
    cls_head=dict(type='I3DHead', num_classes=16, in_channels=128, spatial_type='avg',
                  dropout_ratio=0.3, average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5, 127.5, 127.5], std=[64.0, 64.0, 64.0],
                           format_shape='NCTHW'))
