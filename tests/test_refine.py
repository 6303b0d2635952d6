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


def true_shape_model(points: np.ndarray, start: torch.Tensor):
    """A DPC whose decoder gives ``points`` for any latent and whose student says
    ``start`` for any image."""
    model = dpc_model(config=CFG).eval()
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
