# Variant: gamma ramps linearly from 0 to model.gamma over the first 2 epochs (teachers learn first).
_base_ = ['./jedi_default.py']
custom_hooks = [dict(type='JEDIDistillHook', schedule='linear', warmup_epochs=2, stop_epoch=None)]
