# Paper setting, ActivityNet expert: TSN R50 on trimmed ActivityNet v1.3 clips (200 classes), initialised
# from the Kinetics-400 TSN checkpoint and fine-tuned with `jedi experts train`. MMAction2 1.2.0's model
# zoo has no ActivityNet recognizer checkpoint (only BMN/BSN localizers on pre-extracted features).
# Evaluated with mAP, as in the paper. Lineage: ImageNet -> Kinetics-400 -> ActivityNet. See README.md.
_base_ = ['mmaction::recognition/tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb.py']

dataset_name = 'activitynet'
data_root = 'data/jedi_paper'
jedi = dict(feature_layer='cls_head.fc_cls', feature_dim=2048, metric='mAP')
model = dict(backbone=dict(pretrained=None), cls_head=dict(num_classes=200))
load_from = 'https://download.openmmlab.com/mmaction/v1.0/recognition/tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb/tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb_20220906-2692d16c.pth'  # noqa: E501
train_cfg = dict(max_epochs=50)
val_evaluator = dict(type='AccMetric', metric_list=('top_k_accuracy', 'mean_class_accuracy'))
test_evaluator = val_evaluator
# The dataloaders' ann_file / data_prefix (the zoo config's) are derived from data_root + dataset_name
# when the config is loaded: <data_root>/<dataset_name>/dataset.json (see README.md).
