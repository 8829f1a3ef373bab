"""The real-clip tier (``../shared/data/real_clips``) laid out as ``jedi data init`` input.

Five real clips in three containers (mp4/h264, AVI, GIF) at 25, 28, 29.97 and 30 fps and four frame sizes:
too few for accuracy figures, enough to run the experts' half of the pipeline on real footage. Two
datasets, because only two clips have a stated class::

    ROOT/kinetics400/   classes.txt (the 400 Kinetics names), train.txt: the mmaction2 demo clip
                        ("arm wrestling"), val.txt: the UCF101 cricket clip ("playing cricket")
    ROOT/unlabelled/    classes.txt ("unlabelled"), train.txt / val.txt: the clips whose source states no
                        class (label 0 = "unlabelled"; no accuracy is computed from them)

Videos are symbolic links to the shared files (never copied, never modified).
"""
from __future__ import annotations

import os
from pathlib import Path

from jedi_repro.errors import JediError

LABEL_MAP = 'kinetics_i3d_label_map.txt'
#: dataset -> split -> [(file, class name or None)]
LAYOUT = {
    'kinetics400': {'train': [('mmaction2_demo_demo.mp4', 'arm wrestling')],
                    'val': [('kinetics_i3d_v_CricketShot_g04_c01_rgb.gif', 'playing cricket')]},
    'unlabelled': {'train': [('mmaction2_tests_data_test.avi', None),
                             ('mmaction2_tests_data_test.mp4', None)],
                   'val': [('mmaction2_demo_test_video_structuralize.mp4', None)]},
}


def default_source() -> Path:
    """``../shared/data/real_clips`` beside the checkout."""
    from jedi_repro.workspace import checkout_root
    return checkout_root().parent / 'shared' / 'data' / 'real_clips'


def write_real_clips_root(root: str | os.PathLike, source: str | os.PathLike | None = None,
                          skip: tuple[str, ...] = ()) -> Path:
    """Write the lists, class files and video links of ``LAYOUT`` under ``root`` (then run
    ``jedi data init ROOT``).

    Args:
        root: an empty or new directory.
        source: the real-clip directory (default ``default_source()``).
        skip: clip file names to leave out (a split keeps at least one clip).

    Raises:
        JediError: the source directory or one of its clips is missing.
    """
    source = Path(source) if source else default_source()
    if not (source / LABEL_MAP).is_file():
        raise JediError(f'{source} holds no {LABEL_MAP}: the real-clip tier is not there (expected '
                        '../shared/data/real_clips beside the checkout)')
    k400 = (source / LABEL_MAP).read_text().splitlines()
    root = Path(root)
    for ds, splits in LAYOUT.items():
        classes = k400 if ds == 'kinetics400' else ['unlabelled']
        (root / ds / 'videos').mkdir(parents=True, exist_ok=True)
        (root / ds / 'classes.txt').write_text('\n'.join(classes) + '\n')
        for split, clips in splits.items():
            kept = [c for c in clips if c[0] not in skip] or clips[:1]
            lines = []
            for name, cls in kept:
                if not (source / name).is_file():
                    raise JediError(f'real clip {source / name} does not exist')
                link = root / ds / 'videos' / name
                if not link.exists():
                    link.symlink_to((source / name).resolve())
                lines.append(f'videos/{name} {classes.index(cls) if cls else 0}')
            (root / ds / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    return root
