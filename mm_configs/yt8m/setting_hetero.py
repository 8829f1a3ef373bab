# Heterogeneous experts: as main (50% labels), but the experts see different modalities with different
# architectures, so each knows something the others do not.
_base_ = ['./setting_main.py']
name = 'hetero'
experts = dict(
    sports=dict(modality='rgb', hidden=512, num_layers=2),
    autos_vehicles=dict(modality='audio', hidden=128, num_layers=1),
    arts_entertainment=dict(modality='audio', hidden=256, num_layers=2),
    beauty_fitness=dict(modality='rgb', hidden=128, num_layers=1))
