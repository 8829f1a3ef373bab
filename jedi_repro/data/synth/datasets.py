"""The four synthetic datasets and the presets that size them.

Each dataset maps its own label vocabulary onto sets of motion primitives (``motions.PRIMITIVES``):
the Kinetics-like dataset is fine grained (one primitive per class), the UCF- and HMDB-like ones group
primitives into coarser, differently named classes, and the ActivityNet-like one embeds an action
segment in a longer clip of background. See README.md for why this mirrors the paper's setting.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from jedi_repro.data.synth.render import Domain


@dataclass(frozen=True)
class DatasetSpec:
    """One synthetic dataset.

    Args:
        name: dataset name (directory name, feature-store name).
        role: which paper dataset it stands in for.
        classes: ordered mapping class name -> motion primitives that realise it.
        domain: how its videos look.
        labeled_fraction: fraction of the train split whose labels the expert (and JEDI) may use.
        metric: 'top1' or 'mAP' (the paper evaluates ActivityNet with mAP).
        action_span: (min, max) fraction of the clip covered by the action; the rest is background.
        amp: (min, max) motion amplitude as a fraction of the frame size.
    """
    name: str
    role: str
    classes: dict[str, tuple[str, ...]]
    domain: Domain
    labeled_fraction: float = 1.0
    metric: str = 'top1'
    action_span: tuple[float, float] = (1.0, 1.0)
    amp: tuple[float, float] = (0.3, 0.4)
    extra: dict = field(default_factory=dict)


KINETICS_LIKE = DatasetSpec(
    name='kinetics_like', role='Kinetics-400: large, many fine-grained classes, fully labelled',
    classes={
        'move_right': ('right',), 'move_left': ('left',), 'move_up': ('up',), 'move_down': ('down',),
        'move_up_right': ('up_right',), 'move_down_left': ('down_left',),
        'rotate_clockwise': ('rotate_cw',), 'rotate_anticlockwise': ('rotate_ccw',),
        'grow': ('grow',), 'shrink': ('shrink',), 'shake_horizontally': ('shake_h',),
        'shake_vertically': ('shake_v',), 'orbit_clockwise': ('orbit_cw',),
        'orbit_anticlockwise': ('orbit_ccw',), 'zigzag': ('zigzag',), 'blink': ('blink',),
    },
    domain=Domain(size=(32, 32), n_frames=8, shapes=('triangle', 'arrow', 'bar', 'ell'), palette='random',
                  background='plain', noise=2.0, camera='none', object_size=0.25, min_contrast=100.0),
    labeled_fraction=1.0)

UCF_LIKE = DatasetSpec(
    name='ucf_like', role='UCF101: mid-sized, coarser vocabulary, textured scenes with camera pan',
    classes={
        'slide_horizontal': ('right', 'left'), 'slide_vertical': ('up', 'down'),
        'spin': ('rotate_cw', 'rotate_ccw'), 'zoom_in': ('grow',), 'zoom_out': ('shrink',),
        'vibrate': ('shake_h', 'shake_v'), 'circle': ('orbit_cw', 'orbit_ccw'), 'bounce': ('bounce',),
    },
    domain=Domain(size=(40, 40), n_frames=8, shapes=('triangle', 'arrow', 'kite'), palette='saturated',
                  background='stripes', noise=4.0, camera='pan', object_size=0.22),
    labeled_fraction=0.5)

HMDB_LIKE = DatasetSpec(
    name='hmdb_like', role='HMDB51: small and hard: few clips, low contrast, clutter, camera shake',
    classes={
        'approach': ('grow',), 'retreat': ('shrink',), 'rise': ('up', 'up_left', 'up_right'),
        'fall': ('down', 'down_left', 'down_right'), 'turn': ('rotate_cw', 'rotate_ccw'),
        'wave': ('shake_h', 'shake_v', 'zigzag'),
    },
    domain=Domain(size=(32, 32), n_frames=8, shapes=('pac', 'ell', 'kite', 'bar'), palette='dull',
                  background='blobs', noise=10.0, camera='shake', distractor=True, min_contrast=45.0,
                  object_size=0.22),
    labeled_fraction=0.5)

ANET_LIKE = DatasetSpec(
    name='anet_like', role='ActivityNet: longer untrimmed clips, action segment amid background, mAP',
    classes={
        'pass_by': ('right', 'left'), 'ascend': ('up', 'up_left', 'up_right'),
        'spin': ('rotate_cw', 'rotate_ccw'),
        'expand': ('grow',), 'orbit': ('orbit_cw', 'orbit_ccw'), 'zigzag': ('zigzag',),
    },
    domain=Domain(size=(44, 44), n_frames=16, shapes=('triangle', 'pac', 'arrow', 'kite'), palette='random',
                  background='gradient', noise=4.0, camera='none', object_size=0.2),
    labeled_fraction=0.5, metric='mAP', action_span=(0.45, 0.7))

DATASETS: tuple[DatasetSpec, ...] = (KINETICS_LIKE, UCF_LIKE, HMDB_LIKE, ANET_LIKE)

# Clips per class per split. ``quick`` is for tests (seconds), ``demo`` for ``jedi demo`` (minutes).
# demo: 10 val clips per class because JEDI picks checkpoints and early-stops on val; 20 test clips so that
# one clip moves hmdb_like's test top-1 by 0.8 points, not 1.7. Rendering and extracting them is cheap.
PRESETS: dict[str, dict[str, dict[str, int]]] = {
    'quick': {
        'kinetics_like': dict(train=6, val=2, test=2),
        'ucf_like': dict(train=6, val=2, test=2),
        'hmdb_like': dict(train=4, val=2, test=2),
        'anet_like': dict(train=6, val=2, test=2),
    },
    'demo': {
        'kinetics_like': dict(train=40, val=10, test=20),
        'ucf_like': dict(train=32, val=10, test=20),
        'hmdb_like': dict(train=16, val=10, test=20),
        'anet_like': dict(train=30, val=10, test=20),
    },
}

SPLITS = ('train', 'val', 'test')


def get_dataset(name: str) -> DatasetSpec:
    for spec in DATASETS:
        if spec.name == name:
            return spec
    raise KeyError(name)
