# Paper setting, Kinetics-400 expert: TSN R50 (ImageNet-pretrained backbone, trained on Kinetics-400) from
# MMAction2's model zoo. Lineage: ImageNet -> Kinetics-400. See README.md.
_base_ = ['mmaction::recognition/tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb.py']

dataset_name = 'kinetics400'
data_root = 'data/jedi_paper'  # a data root from `jedi data init`; --data-root replaces it
jedi = dict(feature_layer='cls_head.fc_cls', feature_dim=2048)
load_from = 'https://download.openmmlab.com/mmaction/v1.0/recognition/tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb/tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb_20220906-2692d16c.pth'  # noqa: E501
# The dataloaders' ann_file / data_prefix (the zoo config's) are derived from data_root + dataset_name
# when the config is loaded: <data_root>/<dataset_name>/dataset.json (see README.md).
