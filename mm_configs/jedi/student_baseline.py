# Baseline: the students alone, fine-tuned on their own labelled data (no JEDIDistillHook: no teachers,
# no distillation). Same model and data as jedi_default, so the two compare one for one. The teachers
# are never trained, so `jedi train` leaves them out of selection, the plateau, metrics.json (null,
# listed under `untrained`), MLflow and reports (jedi_repro/engine/untrained.py).
_base_ = ['./jedi_default.py']
custom_hooks = []
