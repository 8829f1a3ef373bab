# Baseline: the students alone, fine-tuned on their own labelled data (no JEDIDistillHook: no teachers,
# no distillation). Same model and data as jedi_default, so the two compare one for one.
_base_ = ['./jedi_default.py']
custom_hooks = []
