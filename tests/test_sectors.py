"""Azimuth-sector pose hypotheses (``pose_sectors``, Unicorn's, a lever of issue 33, off by
default): each hypothesis in its sector, the probability-weighted error for the poses, the
most probable hypothesis' error for the shapes, the uniform-usage prior."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aist_app.pose import quaternion as Q
from aist_app.scene.cameras import orbit_camera, quaternion_from_matrix
from aist_plugins.dpc.config import PoseConfig
from aist_plugins.dpc.loss import dpc_loss
from aist_plugins.dpc.model import dpc_model
from aist_plugins.dpc.sectors import RANGE, orbit_quaternion, sector_angles, usage_prior

SMALL = dict(image_size=32, f_dim=4, fc_dim=16, z_dim=16, num_points=60, vox_size=16,
             kernel_size=3, batch_objects=2, views_per_object=2)


@pytest.mark.parametrize("azimuth, elevation", [(0, 0), (30, 20), (200, -15), (95, 35),
                                                (330, 60)])
def test_a_hypothesis_without_roll_is_the_orbit_camera(azimuth, elevation):
    truth = torch.tensor(quaternion_from_matrix(orbit_camera(azimuth, elevation).R),
                         dtype=torch.float64)
    q = orbit_quaternion(torch.tensor(float(azimuth), dtype=torch.float64),
                         torch.tensor(float(elevation), dtype=torch.float64),
                         torch.tensor(0.0, dtype=torch.float64))
    assert abs(float((q * truth).sum())) == pytest.approx(1.0, abs=1e-12)
    rolled = orbit_quaternion(*(torch.tensor(float(x)) for x in (azimuth, elevation, 25.0)))
    assert float(Q.angle_deg(rolled[None], truth.float()[None])) == pytest.approx(25.0, abs=1e-3)


def test_each_hypothesis_stays_in_its_sector():
    cfg = PoseConfig(pose_sectors=6, sector_elevation_min=0.0, sector_elevation_max=40.0,
                     sector_roll=10.0)
    raw = torch.tensor([-1e3, 0.0, 1e3]).view(3, 1, 1).expand(3, 6, 3)
    az, el, roll = sector_angles(raw, cfg)
    centres = torch.arange(6) * 60.0 + 30.0
    assert torch.allclose(az[1], centres)
    assert torch.allclose(az[0], centres - RANGE * 60.0)
    assert torch.allclose(az[2], centres + RANGE * 60.0)
    assert torch.allclose(el[:, 0], torch.tensor([20.0 - RANGE * 40, 20.0, 20.0 + RANGE * 40]))
    assert torch.allclose(roll[:, 0], torch.tensor([-10.0, 0.0, 10.0]))


def test_the_model_starts_at_the_sector_centres_equally_probable():
    torch.manual_seed(0)
    cfg = PoseConfig(pose_sectors=6, pc_rgb=True, **SMALL)
    out = dpc_model(config=cfg)(torch.rand(3, 3, 32, 32) * 2 - 1)
    assert out["candidates"].shape == (3, 6, 4)
    assert torch.allclose(out["sector_probs"], torch.full((3, 6), 1 / 6))
    for k in range(6):
        truth = torch.tensor(quaternion_from_matrix(orbit_camera(30 + 60 * k, 10.0).R),
                             dtype=torch.float32)
        angle = Q.angle_deg(out["candidates"][:, k].detach(), truth.expand(3, 4))
        assert float(angle.max()) < 1e-2


def test_the_usage_prior():
    assert float(usage_prior(torch.full((8, 6), 1 / 6))) == pytest.approx(0.0, abs=1e-7)
    one = torch.zeros(8, 6)
    one[:, 0] = 1.0  # every view on sector 0
    assert float(usage_prior(one)) == pytest.approx(2 * 5 / 36)


def _batch(cfg, seed=0):
    g = torch.Generator().manual_seed(seed)
    b, v, s = cfg.batch_objects, cfg.views_per_object, cfg.vox_size
    masks = (torch.rand(b, v, s, s, generator=g) > 0.5).float()
    images = torch.rand(b, v, 3, s, s, generator=g)
    return masks, images


def test_the_shapes_learn_the_most_probable_hypothesis_the_poses_all_of_them():
    cfg = PoseConfig(pose_sectors=4, pc_rgb=True, proj_rgb_weight=1.0, **SMALL)
    b, v = cfg.batch_objects, cfg.views_per_object
    masks, images = _batch(cfg)
    g = torch.Generator().manual_seed(1)
    points = ((torch.rand(b, 60, 3, generator=g) - 0.5) * 0.6).requires_grad_(True)
    rgb = torch.rand(b, 60, 3, generator=g).requires_grad_(True)
    raw = torch.randn(b * v, 4, 3, generator=g).requires_grad_(True)
    logits = torch.randn(b * v, 4, generator=g).requires_grad_(True)

    def run(raw_poses):
        from aist_plugins.dpc.sectors import sector_quaternions

        out = {"points": points, "rgb": rgb, "scale": torch.ones(b),
               "candidates": sector_quaternions(raw_poses, cfg),
               "sector_probs": torch.softmax(logits, -1),
               "student": Q.normalize(torch.randn(b * v, 4, generator=g))}
        losses = dpc_loss(out, masks, cfg, 0, torch.Generator().manual_seed(2), images)
        for t in (points, rgb, logits):
            t.grad = None
        losses["total"].backward()
        return losses, points.grad.clone(), raw_poses.grad.clone(), logits.grad.clone()

    losses, g_points, g_raw, g_logits = run(raw)
    assert {"expected", "usage"} <= set(losses)
    # The prior against a per-pixel mean error (Unicorn's footing): times the view's terms,
    # 16² silhouette pixels and 3 x 16² colour values, halved.
    want = 0.02 * 0.5 * 16 * 16 * 4 * usage_prior(torch.softmax(logits.detach(), -1))
    assert float(losses["usage"]) == pytest.approx(float(want), rel=1e-5)
    assert g_raw.abs().sum(dim=-1).gt(0).all()  # every hypothesis of every view learns
    assert g_logits.abs().sum() > 0
    # Moving a hypothesis that is not the most probable one changes nothing for the shapes.
    top = logits.argmax(-1)
    other = (top + 1) % 4
    moved = raw.detach().clone()
    moved[torch.arange(b * v), other] += 0.7
    _, g_points_moved, _, _ = run(moved.requires_grad_(True))
    assert torch.allclose(g_points, g_points_moved, atol=1e-6)
    # Moving the most probable one does.
    moved = raw.detach().clone()
    moved[torch.arange(b * v), top] += 0.7
    _, g_points_top, _, _ = run(moved.requires_grad_(True))
    assert not torch.allclose(g_points, g_points_top, atol=1e-6)


def test_a_sector_run_trains_resumes_and_predicts(tmp_path, pyrender_dataset):
    from aist_plugins.dpc.predictor import DPCPredictor
    from aist_plugins.dpc.train import PoseTrainer

    cfg = PoseConfig(pose_sectors=6, pc_rgb=True, proj_rgb_weight=1.0, image_size=32,
                     f_dim=4, fc_dim=16, z_dim=16, num_points=60, vox_size=16, kernel_size=3,
                     batch_objects=2, views_per_object=2, steps=4, checkpoint_every=2,
                     val_every=2, device="cpu")
    trainer = PoseTrainer(cfg, pyrender_dataset, tmp_path / "run")
    logs = [trainer.train_step() for _ in range(2)]
    assert all(np.isfinite(log["usage"]) and log["usage"] >= 0 for log in logs)
    trainer.save()
    pred = DPCPredictor(tmp_path / "run")
    assert pred.config.pose_sectors == 6


def test_sector_settings_are_checked():
    with pytest.raises(ValueError, match="--pose-sectors 1: 0 \\(off\\) or at least 2"):
        PoseConfig(pose_sectors=1).validate()
    with pytest.raises(ValueError, match="--pose-sectors with pose_flips"):
        PoseConfig(pose_sectors=6, pose_flips=True).validate()
    with pytest.raises(ValueError, match="--pose-sectors with mirror_symmetry"):
        PoseConfig(pose_sectors=6, mirror_symmetry=True).validate()
    with pytest.raises(ValueError, match="sector_elevation_min"):
        PoseConfig(pose_sectors=6, sector_elevation_min=30, sector_elevation_max=10).validate()


def test_sector_hypotheses_under_bf16_autocast_stay_float32():
    """The GPU path's bf16 autocast (run here on the CPU): the angles and quaternions are
    computed in float32, so the hypotheses match the fp32 model's to float precision."""
    torch.manual_seed(0)
    model = dpc_model(config=PoseConfig(pose_sectors=6, **SMALL))
    with torch.no_grad():
        for head in model.ensemble:  # off the sector centres
            head[-1].bias.uniform_(-1.0, 1.0)
        images = torch.rand(2, 3, 32, 32) * 2 - 1
        plain = model(images)["candidates"]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = model(images)
    assert mixed["candidates"].dtype == torch.float32
    assert mixed["sector_probs"].dtype == torch.float32
    assert float(Q.angle_deg(mixed["candidates"].reshape(-1, 4), plain.reshape(-1, 4)).max()
                 ) < 0.5
