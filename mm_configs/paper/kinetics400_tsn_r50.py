# Paper setting, Kinetics-400 expert: TSN R50 (ImageNet-pretrained backbone, trained on Kinetics-400) from
# MMAction2's model zoo. Lineage: ImageNet -> Kinetics-400. See README.md.
_base_ = ['mmaction::recognition/tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb.py']

dataset_name = 'kinetics400'
data_root = 'data/kinetics400'  # `jedi experts train/extract --data-root` replaces this prefix
jedi = dict(dataset=dataset_name, feature_layer='cls_head.fc_cls', feature_dim=2048)
load_from = 'https://download.openmmlab.com/mmaction/v1.0/recognition/tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb/tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb_20220906-2692d16c.pth'  # noqa: E501

train_dataloader = dict(dataset=dict(ann_file=f'{data_root}/kinetics400_train_list_videos.txt',
                                     data_prefix=dict(video=f'{data_root}/videos_train')))
val_dataloader = dict(dataset=dict(ann_file=f'{data_root}/kinetics400_val_list_videos.txt',
                                   data_prefix=dict(video=f'{data_root}/videos_val')))
test_dataloader = dict(dataset=dict(ann_file=f'{data_root}/kinetics400_val_list_videos.txt',
                                    data_prefix=dict(video=f'{data_root}/videos_val')))
