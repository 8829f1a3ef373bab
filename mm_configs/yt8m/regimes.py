# The regime map (`jedi bench regimes`): when does JEDI help? Label fraction x expert views on the
# YouTube-8M cut of setting_main.py (4 verticals), one expert per dataset trained on its labelled subset
# only (as in `jedi bench yt8m`), one feature store per cell. Sizes are cut so that the whole map runs in
# under an hour on 2 cores: experts of 128 units trained for 15 epochs; JEDI (jedi_yt8m.py, the paper's
# settings) with a pool batch of 256 instead of 128 (half the iterations per epoch), capped at 30 epochs
# with a plateau patience of 5 instead of 10 (each run's metrics.json says whether it plateaued).
_base_ = ['./setting_main.py']
name = 'regimes'
label_fractions = (0.05, 0.1, 0.25, 0.5)
# every expert sees the same features (RGB + audio), or each sees one modality or both: experts that
# know different things, the regime JEDI's teachers (which read every expert) are built for
views = dict(
    same=dict(sports=dict(modality='rgb+audio'), autos_vehicles=dict(modality='rgb+audio'),
              arts_entertainment=dict(modality='rgb+audio'), beauty_fitness=dict(modality='rgb+audio')),
    different=dict(sports=dict(modality='rgb'), autos_vehicles=dict(modality='audio'),
                   arts_entertainment=dict(modality='rgb+audio'), beauty_fitness=dict(modality='audio')),
)
expert_defaults = dict(hidden=128, num_layers=1, max_epochs=15)
seeds = (0, 1, 2, 3, 4)
# JEDI (paper settings), gamma = 0 and student-only in every cell; model.kd_pool = own / others in these
kd_pool_views = ('different',)
base_config = 'mm_configs/yt8m/jedi_yt8m.py'
jedi_cfg_options = {'train_cfg.max_epochs': 30, 'default_hooks.plateau.patience': 5,
                    'data.unlabeled_batch_size': 256}
data_dir = None  # None: $JEDI_YT8M, else ../shared/data/yt8m next to the checkout
