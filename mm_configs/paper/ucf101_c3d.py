# Paper setting, UCF101 expert: C3D (Sports-1M-pretrained, fine-tuned on UCF101 split 1) from MMAction2's
# model zoo. Lineage: Sports-1M -> UCF101. See README.md.
_base_ = ['mmaction::recognition/c3d/c3d_sports1m-pretrained_8xb30-16x1x1-45e_ucf101-rgb.py']

dataset_name = 'ucf101'
data_root = 'data/jedi_paper'  # a data root from `jedi data init`; --data-root replaces it
jedi = dict(feature_layer='cls_head.fc_cls', feature_dim=4096)
load_from = 'https://download.openmmlab.com/mmaction/v1.0/recognition/c3d/c3d_sports1m-pretrained_8xb30-16x1x1-45e_ucf101-rgb/c3d_sports1m-pretrained_8xb30-16x1x1-45e_ucf101-rgb_20220811-31723200.pth'  # noqa: E501
# The dataloaders' ann_file / data_prefix (the zoo config's) are derived from data_root + dataset_name
# when the config is loaded: <data_root>/<dataset_name>/dataset.json (see README.md).
