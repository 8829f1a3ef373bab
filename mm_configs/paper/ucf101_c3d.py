# Paper setting, UCF101 expert: C3D (Sports-1M-pretrained, fine-tuned on UCF101 split 1) from MMAction2's
# model zoo. Lineage: Sports-1M -> UCF101. See README.md.
_base_ = ['mmaction::recognition/c3d/c3d_sports1m-pretrained_8xb30-16x1x1-45e_ucf101-rgb.py']

dataset_name = 'ucf101'
data_root = 'data/ucf101'  # `jedi experts train/extract --data-root` replaces this prefix
jedi = dict(dataset=dataset_name, feature_layer='cls_head.fc_cls', feature_dim=4096)
load_from = 'https://download.openmmlab.com/mmaction/v1.0/recognition/c3d/c3d_sports1m-pretrained_8xb30-16x1x1-45e_ucf101-rgb/c3d_sports1m-pretrained_8xb30-16x1x1-45e_ucf101-rgb_20220811-31723200.pth'  # noqa: E501

train_dataloader = dict(dataset=dict(ann_file=f'{data_root}/ucf101_train_split_1_videos.txt',
                                     data_prefix=dict(video=f'{data_root}/videos')))
val_dataloader = dict(dataset=dict(ann_file=f'{data_root}/ucf101_val_split_1_videos.txt',
                                   data_prefix=dict(video=f'{data_root}/videos')))
test_dataloader = dict(dataset=dict(ann_file=f'{data_root}/ucf101_val_split_1_videos.txt',
                                    data_prefix=dict(video=f'{data_root}/videos')))
