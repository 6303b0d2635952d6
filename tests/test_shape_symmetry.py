"""The decoded shapes' front/back asymmetry, measured as the seeds table reports it."""

from __future__ import annotations

import numpy as np
import pytest

from aist_app.pose.symmetry import cloud_symmetry, describe, set_symmetry


def _car(rng: np.random.Generator, front_back_symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """A box long along x, left/right symmetric (about z = 0); a cabin and red lamps at the
    front end only, unless mirrored about x = 0 as a mirror-symmetric decoder makes it."""
    body = rng.uniform([-0.4, -0.1, -0.15], [0.4, 0.05, 0.15], size=(600, 3))
    cabin = rng.uniform([0.05, 0.05, -0.12], [0.3, 0.15, 0.12], size=(200, 3))
    pts = np.concatenate([body, cabin])
    rgb = np.where(pts[:, :1] > 0.3, [1.0, 0.0, 0.0], [0.5, 0.5, 0.5])
    pts = np.concatenate([pts, pts * [1, 1, -1]])  # left/right symmetric
    rgb = np.concatenate([rgb, rgb])
    if front_back_symmetric:
        half = pts[: len(pts) // 2]
        pts = np.concatenate([half, half * [-1, 1, 1]])
        rgb = np.concatenate([rgb[: len(rgb) // 2]] * 2)
    return pts, rgb


def test_a_mirrored_decoder_is_seen_front_back_symmetric():
    rng = np.random.default_rng(0)
    car = cloud_symmetry(*_car(rng, False))
    assert car["long_axis"] == 0 and car["std_x"] > 2 * car["std_z"]
    assert car["asym_left_right"] == pytest.approx(0.0, abs=1e-9)
    assert car["asym_front_back"] > 1.0 and car["asym_front_back_rgb"] > 1.0
    folded = cloud_symmetry(*_car(rng, True))
    assert folded["asym_front_back"] == pytest.approx(0.0, abs=1e-9)
    assert folded["asym_front_back_rgb"] == pytest.approx(0.0, abs=1e-9)
    # Long along z: the axes swap, the figures follow.
    pts, rgb = _car(rng, False)
    turned = cloud_symmetry(pts[:, [2, 1, 0]], rgb)
    assert turned["long_axis"] == 2 and turned["asym_front_back"] > 1.0
    assert turned["asym_left_right"] == pytest.approx(0.0, abs=1e-9)


def test_set_figures_and_their_reading():
    rng = np.random.default_rng(1)
    m = set_symmetry([_car(rng, True) for _ in range(3)] + [(_car(rng, False)[0], None)])
    assert m["shape_long_along_x"] == 1.0
    assert 0 < m["shape_asym_front_back"] < 1.0  # one asymmetric cloud of four
    text = describe(m, mirror_symmetry=True)
    assert text.startswith("long along x (100%), mirror x = 0 across the car; front/back")
    assert describe({}) == "n/a" and set_symmetry([]) == {}
