# The UCF-like expert: the Kinetics-like expert's backbone fine-tuned on the UCF-like labelled clips with a
# new 8-class head, as MMAction2's UCF101 models fine-tune a Kinetics-400 checkpoint. Every UCF-like class
# is closed under horizontal mirroring (slide_horizontal holds left and right, spin both senses, ...), so
# Flip is label-preserving here. Measured (demo preset, seed 0): 0.750 test top-1 (chance 0.125); from
# scratch (earlier preset, 10 test clips per class) the same network reached 0.188 and TSM-R18
# (from_scratch/) 0.200. 12 epochs gave 0.875, but the other experts then no longer added to it in a
# linear probe (jedi_repro/data/synth/README.md).
_base_ = ['./_base_/runtime.py', './_base_/r3d18_slim.py', './_base_/clips_8x32.py']

dataset_name = 'ucf_like'
model = dict(cls_head=dict(num_classes=8))  # replaced by the data root's class count
# init_backbone: the expert whose exported backbone initialises this one (trained first by `jedi demo`;
# for `jedi experts train` its default work dir, or --cfg-options jedi.init_backbone_checkpoint=PATH).
jedi = dict(feature_layer='cls_head.fc_cls', init_backbone='r3d18_kinetics_like')
