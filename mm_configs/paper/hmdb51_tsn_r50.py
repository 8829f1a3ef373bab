# Paper setting, HMDB51 expert: TSN R50 initialised from the Kinetics-400 TSN checkpoint and fine-tuned on
# HMDB51 split 1 (`jedi experts train` this config). MMAction2 1.2.0's model zoo has no RGB HMDB51
# recognizer checkpoint, so `load_from` is the Kinetics-400 one and the head (51 classes) starts fresh.
# Lineage: ImageNet -> Kinetics-400 -> HMDB51. See README.md.
_base_ = ['mmaction::recognition/tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb.py']

dataset_name = 'hmdb51'
data_root = 'data/jedi_paper'  # a data root from `jedi data init`; --data-root replaces it
jedi = dict(feature_layer='cls_head.fc_cls', feature_dim=2048)
model = dict(backbone=dict(pretrained=None), cls_head=dict(num_classes=51))
load_from = 'https://download.openmmlab.com/mmaction/v1.0/recognition/tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb/tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb_20220906-2692d16c.pth'  # noqa: E501
train_cfg = dict(max_epochs=50)
# The dataloaders' ann_file / data_prefix (the zoo config's) are derived from data_root + dataset_name
# when the config is loaded: <data_root>/<dataset_name>/dataset.json (see README.md).
