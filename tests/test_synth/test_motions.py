import math

import numpy as np
import pytest

from jedi_repro.data.synth.motions import PRIMITIVES, pose, trajectory


def test_directions_move_the_right_way():
    cases = [('right', 1, 0), ('left', -1, 0), ('up', 0, -1), ('down', 0, 1), ('up_right', 1, -1)]
    for motion, sx, sy in cases:
        x0, y0 = pose(motion, 0.0, 0.3, 0.0)[:2]
        x1, y1 = pose(motion, 1.0, 0.3, 0.0)[:2]
        assert np.sign(round(x1 - x0, 9)) == sx and np.sign(round(y1 - y0, 9)) == sy, motion


def test_rotation_and_scale_senses():
    assert pose('rotate_cw', 1.0, 0.3, 0.0)[2] > pose('rotate_cw', 0.0, 0.3, 0.0)[2]
    assert pose('rotate_ccw', 1.0, 0.3, 0.0)[2] < pose('rotate_ccw', 0.0, 0.3, 0.0)[2]
    assert pose('grow', 1.0, 0.3, 0.0)[3] > pose('grow', 0.0, 0.3, 0.0)[3]
    assert pose('shrink', 1.0, 0.3, 0.0)[3] < pose('shrink', 0.0, 0.3, 0.0)[3]


def test_orbit_senses_are_opposite_on_screen():
    # Clockwise on screen (y down): from angle 0 the object first moves towards +y.
    assert pose('orbit_cw', 0.05, 0.3, 0.0)[1] > 0 > pose('orbit_ccw', 0.05, 0.3, 0.0)[1]


def test_every_primitive_is_defined_and_finite():
    for m in PRIMITIVES:
        for t in np.linspace(0, 1, 7):
            p = pose(m, float(t), 0.3, 1.0)
            assert all(math.isfinite(v) for v in p[:4]), m
    with pytest.raises(KeyError):
        pose('teleport', 0.5, 0.3, 0.0)


def test_trajectory_rests_outside_the_action_segment():
    poses = trajectory('right', 16, 0.3, 0.0, segment=(5, 11))
    assert len(poses) == 16
    assert all(p[:2] == poses[0][:2] for p in poses[:5])          # background before: still
    assert all(p[:2] == poses[-1][:2] for p in poses[11:])        # background after: still
    assert poses[10][0] > poses[5][0]                             # moving inside the segment
