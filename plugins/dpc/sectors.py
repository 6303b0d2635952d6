"""Azimuth-sector pose hypotheses (Unicorn, Monnier et al. 2022, ``src/model/unicorn.py``:
``predict_poses``, the ``uniform`` pose prior; AIST's lever for the front/back fold, off by
default): hypothesis k turns the model about its y (up) axis by an azimuth confined to
sector k, then tilts the camera by a bounded elevation and rolls it by a bounded angle.

The rotation is the world-to-camera rotation of an orbit camera of the product's convention
(``aist_app.scene.cameras``, up axis y): ``r_z(roll) r_x(elevation) q0 r_y(-azimuth)`` with
``q0`` the camera at azimuth 0 and elevation 0 (a half turn about x), so a hypothesis with
no roll is exactly ``orbit_camera(azimuth, elevation).R`` (tests/test_sectors.py).
"""

from __future__ import annotations

import torch
from torch import Tensor

from aist_app.pose.quaternion import axis_angle, multiply
from aist_plugins.dpc.config import PoseConfig

#: Unicorn's range factor: each hypothesis reaches 0.52 of its sector's width either side of
#: the centre (sectors overlap by 4 %).
RANGE = 0.52


def _about(axis: int, deg: Tensor) -> Tensor:
    """Quaternions (..., 4) of turns by ``deg`` about the coordinate axis ``axis``."""
    return axis_angle(deg.new_tensor([float(i == axis) for i in range(3)]), deg)


def orbit_quaternion(azimuth: Tensor, elevation: Tensor, roll: Tensor) -> Tensor:
    """World-to-camera quaternions (..., 4) of orbit cameras (degrees, up axis y), rolled
    about the viewing axis."""
    q0 = azimuth.new_tensor([0.0, 1.0, 0.0, 0.0]).expand(*azimuth.shape, 4)
    q = multiply(q0, _about(1, -azimuth))
    q = multiply(_about(0, elevation), q)
    return multiply(_about(2, roll), q)


def sector_angles(raw: Tensor, config: PoseConfig) -> tuple[Tensor, Tensor, Tensor]:
    """(B, K, 3) unbounded head outputs -> azimuth, elevation, roll (B, K) in degrees, each
    hypothesis in its own sector."""
    c = config
    k = raw.shape[1]
    width = 360.0 / k
    centre = (torch.arange(k, dtype=raw.dtype, device=raw.device) + 0.5) * width
    t = torch.tanh(raw)
    span = c.sector_elevation_max - c.sector_elevation_min
    azimuth = centre + t[..., 0] * (RANGE * width)
    elevation = 0.5 * (c.sector_elevation_min + c.sector_elevation_max) + t[..., 1] * (
        RANGE * span)
    return azimuth, elevation, t[..., 2] * c.sector_roll


def sector_quaternions(raw: Tensor, config: PoseConfig) -> Tensor:
    """(B, K, 3) head outputs -> the K hypotheses' unit quaternions (B, K, 4)."""
    return orbit_quaternion(*sector_angles(raw, config))


def usage_prior(probs: Tensor) -> Tensor:
    """Unicorn's uniform prior on the hypotheses: the mean over hypotheses of
    ``|mean_batch p_k - 1/K|`` of (N, K) probabilities."""
    k = probs.shape[-1]
    return (probs.reshape(-1, k).mean(0) - 1.0 / k).abs().mean()
