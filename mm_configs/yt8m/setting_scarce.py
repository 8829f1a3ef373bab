# Label-scarce setting: as main, but only 10% of each train split is labelled (experts included).
_base_ = ['./setting_main.py']
name = 'scarce'
labeled_fraction = 0.1
