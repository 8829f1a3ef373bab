# YouTube-8M benchmark, main setting: 4 datasets cut from verticals, homogeneous experts (RGB + audio,
# one hidden layer of 256), 50% of each train split labelled. Experts train on that labelled half only;
# the other half and every other dataset's samples are the unlabelled pool JEDI distils on.
name = 'main'
cut = dict(verticals=('Sports', 'Autos & Vehicles', 'Arts & Entertainment', 'Beauty & Fitness'),
           k=10, min_per_class=40, fractions=(0.6, 0.2, 0.2), seed=0)
labeled_fraction = 0.5
labeled_seed = 0
expert_defaults = dict(modality='rgb+audio', hidden=256, num_layers=1)
experts = dict(sports={}, autos_vehicles={}, arts_entertainment={}, beauty_fitness={})
