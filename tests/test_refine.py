"""Render-and-compare refinement (RenderNet supplementary §1.2): on a small fixed case (a
model whose decoder outputs a real object's true shape, started 60° away from the true
pose) refinement lowers the silhouette error and the pose error; bad input is refused
clearly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aist_app.pose import quaternion as Q
from aist_app.pose.data import PoseData, images_and_masks
from aist_plugins.dpc.config import PoseConfig
from aist_plugins.dpc.model import dpc_model
from aist_plugins.dpc.refine import (
    RefineConfig,
    Refiner,
    ShapePrior,
    grid_quaternions,
    mask_problems,
    neighbours,
)

from .conftest import CHAIR

CFG = PoseConfig(image_size=64, vox_size=32, kernel_size=9, sigma_end=0.5, num_points=1000,
                 f_dim=4, fc_dim=32, z_dim=16, device="cpu")


def true_shape_model(points: np.ndarray, start: torch.Tensor, config: PoseConfig = CFG):
    """A DPC whose decoder gives ``points`` for any latent and whose student says
    ``start`` for any image."""
    model = dpc_model(config=config).eval()
    with torch.no_grad():
        model.points.weight.zero_()
        model.points.bias.copy_(torch.atanh(torch.from_numpy(
            (2 * points).clip(-0.999, 0.999)).float().flatten()))
        model.scale.weight.zero_()
        model.scale.bias.fill_(10.0)
        model.student[-1].weight.zero_()
        model.student[-1].bias.copy_(start)
    return model


def test_grid_holds_the_datasets_orbit_cameras():
    from aist_app.scene.cameras import orbit_camera, quaternion_from_matrix

    g = grid_quaternions(4, (0.0, 30.0))
    q = torch.tensor(quaternion_from_matrix(orbit_camera(90.0, 30.0).R)).float()
    assert len(g) == 8 and Q.angle_deg(g[5], q).item() < 1e-3
    near = neighbours(q, 10.0, 16, torch.tensor([0.0, 1.0, 0.0]))
    ang = Q.angle_deg(near, q.expand_as(near))
    assert len(near) == 16 and ang[:8].max() < 15.0 and ang[8:].max() < 7.5
    assert ang.min() > 4.0


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_refinement_lowers_silhouette_and_pose_error(pyrender_dataset):
    data = PoseData(pyrender_dataset, None)
    oid = next(o for o in data.ids if CHAIR.name in o)
    files = data.views[oid][:2]
    images, masks = images_and_masks(data.load(oid, files), CFG.image_size, CFG.vox_size)
    assert not any(mask_problems(masks))
    gt = torch.from_numpy(np.stack([data.gt_quaternions(oid)[f] for f in files])).float()
    pts = data.gt_points(oid)
    pts = pts[np.random.default_rng(0).choice(len(pts), CFG.num_points, replace=False)]
    # Start 60° away from the first view's pose (about the up axis): a wrong guess.
    up = torch.tensor([0.0, 1.0, 0.0])
    turn = torch.tensor([np.cos(np.radians(30)), *(np.sin(np.radians(30)) * up)]).float()
    start = Q.multiply(gt[0], turn)
    model = true_shape_model(pts, start)
    prior = ShapePrior(torch.zeros(CFG.z_dim), torch.eye(CFG.z_dim), 2)
    refiner = Refiner(model, CFG, prior, np.array([1.0, 0, 0, 0]),
                      RefineConfig(steps=240, reseed_every=80, lr=0.02, azimuths=8,
                                   elevations=(0.0, 30.0), batch=2),
                      focal_length=data.focal_length())
    res = refiner.refine(images, masks)
    err_start = Q.angle_deg(start.expand_as(gt), gt)
    err = Q.angle_deg(Q.normalize(res.quaternion), gt)
    assert err_start[0] == pytest.approx(60.0, abs=0.5)
    assert (res.loss < res.loss_start).all()
    xor = ((res.silhouette > 0.5) ^ (masks > 0.5)).sum((1, 2))
    with torch.no_grad():
        z = model.latent(images)
        sil0 = refiner.objective(z, start.expand_as(gt), masks, CFG.sigma_end)[1]
    xor0 = ((sil0 > 0.5) ^ (masks > 0.5)).sum((1, 2))
    assert (xor < xor0).all(), (xor, xor0)
    assert (err < err_start).all() and err.max() < 20.0, (err_start, err)


def test_bad_masks_are_refused_clearly():
    m = torch.zeros(3, 16, 16)
    m[1, 4:8, 4:8] = 1
    m[2, 0:5, 3:9] = 1  # touches the top border
    problems = mask_problems(m)
    assert "empty" in problems[0] and problems[1] is None and "border" in problems[2]
    model = dpc_model(config=CFG).eval()
    refiner = Refiner(model, CFG, ShapePrior(torch.zeros(16), torch.eye(16), 2),
                      np.array([1.0, 0, 0, 0]), RefineConfig(steps=1))
    with pytest.raises(ValueError, match="image 0: the mask is empty"):
        refiner.refine(torch.zeros(1, 3, 64, 64), torch.zeros(1, 32, 32))


def test_a_run_without_a_decoder_or_training_set_is_refused(tmp_path):
    from aist_plugins.dpc.refine import run_refiner

    class NoDecoder:
        ck = {"path": str(tmp_path / "last.pt"), "dataset": str(tmp_path / "gone")}
        model = torch.nn.Linear(2, 2)

    with pytest.raises(ValueError, match="no shape decoder"):
        run_refiner(NoDecoder(), np.array([1.0, 0, 0, 0]), RefineConfig())

    class NoTrainingSet(NoDecoder):
        model = dpc_model(config=CFG)
        config = CFG
        device = torch.device("cpu")

    with pytest.raises(ValueError, match="training set is needed"):
        run_refiner(NoTrainingSet(), np.array([1.0, 0, 0, 0]), RefineConfig())


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_colour_term_tells_front_from_back():
    """A run that decodes point colours (pc_rgb) is refined on its colour image as well (the
    seed compares images): a bar red at one end and blue at the other has exactly the same
    silhouette turned 180 degrees, so silhouettes alone cannot tell the true pose from the
    turned start; with the colour term the refiner finds the true pose."""
    from aist_app.scene.cameras import orbit_camera, quaternion_from_matrix
    from aist_plugins.dpc.projection import project

    cfg = PoseConfig(**{**CFG.as_dict(), "pc_rgb": True, "proj_rgb_weight": 1.0,
                        "pc_rgb_divide_by_occupancies": True, "pc_rgb_clip_after_conv": True})
    g = torch.Generator().manual_seed(0)
    half = (torch.rand(cfg.num_points // 2, 3, generator=g) * torch.tensor([0.7, 0.12, 0.12])
            - torch.tensor([0.35, 0.06, 0.06]))
    pts = torch.cat([half, half * torch.tensor([-1.0, 1.0, -1.0])])  # the turn maps it on itself
    rgb = torch.where(pts[:, :1] > 0, torch.tensor([0.9, 0.1, 0.1]),
                      torch.tensor([0.1, 0.1, 0.9]))
    truth = torch.tensor(quaternion_from_matrix(orbit_camera(40.0, 20.0).R)).float()[None]
    turned = torch.tensor(quaternion_from_matrix(orbit_camera(220.0, 20.0).R)).float()[None]
    model = true_shape_model(pts.numpy(), turned[0], cfg)
    with torch.no_grad():
        model.colors.weight.zero_()
        model.colors.bias.copy_(torch.logit(rgb).flatten())
    kw = dict(size=cfg.vox_size, sigma=cfg.sigma_end, kernel_size=cfg.kernel_size,
              scale=torch.ones(1), **cfg.colour_projection())
    shot = project(pts[None], truth, rgb=rgb[None], **kw)
    masks = shot["silhouette"]
    images = torch.nn.functional.interpolate(shot["rgb"], size=(cfg.image_size,) * 2,
                                             mode="bilinear") * 2 - 1
    prior = ShapePrior(torch.zeros(cfg.z_dim), torch.eye(cfg.z_dim), 2)
    z = model.latent(images)
    for colour in (0.0, 1.0):
        refiner = Refiner(model, cfg, prior, np.array([1.0, 0, 0, 0]),
                          RefineConfig(steps=160, reseed_every=80, lr=0.02, azimuths=4,
                                       elevations=(20.0,), batch=1, colour=colour))
        assert refiner.uses_colour == (colour > 0)
        t = refiner.colour_targets(images)
        at_truth, at_turned = (float(refiner.objective(z, q, masks, cfg.sigma_end, t)[0])
                               for q in (truth, turned))
        if colour == 0:  # silhouettes alone: the turned pose is as good as the truth
            assert at_turned == pytest.approx(at_truth, rel=1e-4, abs=1e-3)
        else:
            assert at_turned > at_truth + 50.0, (at_turned, at_truth)
            res = refiner.refine(images, masks)
            err = float(Q.angle_deg(Q.normalize(res.quaternion), truth)[0])
            assert err < 20.0 and res.loss[0] < res.loss_start[0], (err, res.loss)
