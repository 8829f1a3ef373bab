# Variant: teachers fuse the experts with a learned per-sample attention over projected features.
_base_ = ['./jedi_default.py']
model = dict(fusion=dict(_delete_=True, type='attention', proj_dim=None))
