# The second regime map (`jedi bench regimes --map mm_configs/yt8m/regimes_overlap.py`): the paper's regime.
# Every dataset fully labelled; n datasets cut from YouTube-8M whose class sets overlap (the overlap cut,
# jedi_repro/data/yt8m.py: cut_overlapping): 3 classes per dataset of which 0 / 1 / 2 are shared with
# another dataset (requested 0 / 30 / 60 %, measured 0 / 33 / 67 % on each written store), 80 videos per
# dataset and class (48 / 16 / 16 train / val / test), no video in two datasets. One expert per dataset
# trained on its (fully labelled) train split, one feature store per cell.
# Budgets as the first map (regimes.py): experts 128 units x 1 layer, 15 epochs; JEDI jedi_yt8m.py with
# max_epochs 30, plateau patience 5, pool batch 256. An epoch here is 5 iterations (144 train videos per
# dataset / 32; 8 x 144 pool videos / 256), as at 5% labels in the first map, not 45 as at 50%.
name = 'overlap'
data_dir = None  # None: $JEDI_YT8M, else ../shared/data/yt8m next to the checkout
labeled_fraction = 1.0
labeled_seed = 0
overlap_cut = dict(classes_per_dataset=3, videos_per_class=80, universe=48, fractions=(0.6, 0.2, 0.2), seed=0)
overlaps = (0.0, 0.3, 0.6)
# expert modalities, dealt to d0, d1, ... in turn (as the first map: rgb / audio / both / audio)
views = dict(same=('rgb+audio',), different=('rgb', 'audio', 'rgb+audio', 'audio'))
expert_defaults = dict(hidden=128, num_layers=1, max_epochs=15)
seeds = (0, 1, 2, 3, 4)
# The cells that run, in this order: (view, n, overlaps). Cut to fit about 50 min on a shared 2-core
# machine (README of reports/regimes_overlap): views 'different' at n = 4 only; kd_pool own / others where
# classes overlap, at the n listed in kd_pool_n only.
grid = [('same', 4, (0.0, 0.3, 0.6)), ('different', 4, (0.0, 0.3, 0.6)),
        ('same', 2, (0.0, 0.3, 0.6)), ('same', 8, (0.0, 0.3, 0.6))]
kd_pool_n = (4,)
base_config = 'mm_configs/yt8m/jedi_yt8m.py'
jedi_cfg_options = {'train_cfg.max_epochs': 30, 'default_hooks.plateau.patience': 5,
                    'data.unlabeled_batch_size': 256}
