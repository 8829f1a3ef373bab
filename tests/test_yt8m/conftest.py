"""Fixtures for the YouTube-8M benchmark tests: a small synthetic copy of the data layout."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from jedi_repro.data import yt8m

# label index -> (name, vertical); 90 is unnamed (skipped), 50 belongs to a vertical we do not cut
VOCAB = {
    1: ('Football', 'Sports'), 2: ('Tennis', 'Sports'), 3: ('Golf', 'Sports'),
    11: ('Car', 'Autos'), 12: ('Truck', 'Autos'), 13: ('Boat', 'Autos'),
    50: ('Cake', 'Food'), 90: ('', 'Sports'),
}


def make_labels() -> list[list[int]]:
    """Per-video label lists with known outcomes under the cut (k=2, min_per_class=1)."""
    videos = []
    videos += [[1]] * 12 + [[2, 50]] * 9 + [[3]] * 2     # sports; 3 is rare (not in top-2)
    videos += [[1, 2]] * 4                              # two sports top labels -> dropped
    videos += [[11]] * 10 + [[12]] * 8                  # autos
    videos += [[1, 11]] * 3                             # candidate of both verticals -> dropped
    videos += [[50]] * 5 + [[90, 1]] * 2                # food only; unnamed 90 + football -> sports
    return videos


@pytest.fixture
def synth_yt8m(tmp_path):
    """A data directory with the real file names and a few dozen videos; returns (dir, label lists)."""
    labels = make_labels()
    n = len(labels)
    rng = np.random.default_rng(0)
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in labels])]).astype(np.int64)
    np.savez(tmp_path / yt8m.NPZ_NAME, ids=np.array([f'v{i:03d}' for i in range(n)]),
             rgb=rng.normal(size=(n, 1024)).astype(np.float16),
             audio=rng.normal(size=(n, 128)).astype(np.float16),
             label_offsets=offsets, label_values=np.concatenate(labels).astype(np.int32))
    with open(tmp_path / yt8m.VOCAB_NAME, 'w', newline='') as fh:
        w = csv.writer(fh)
        w.writerow(['Index', 'TrainVideoCount', 'Name', 'Vertical1', 'Vertical2', 'WikiDescription'])
        for idx, (name, vert) in VOCAB.items():
            w.writerow([idx, 100, name, vert, '', 'a, "quoted" description'])
    return tmp_path, labels
