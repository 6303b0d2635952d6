"""The pose model follows the reference where the earlier code did not: intrinsics from the
dataset (old datasets still train), one view's shape per object, the pose branch's own FC
layer, Adam with the L2 term in the loss, the reference's alignment procedure, and the full
experiment preset."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from aist_app.pose import quaternion as Q
from aist_app.pose.align import icp, reference_rotation
from aist_plugins.dpc.config import PoseConfig
from aist_plugins.dpc.model import dpc_model

from .test_pose import renders, tiny  # noqa: F401  (module fixture)


def _rewrite_k(root, f_px, only_first: bool = False) -> None:
    for i, cams in enumerate(sorted(root.glob("objects/*/cameras.json"))):
        if only_first and i:
            break
        data = json.loads(cams.read_text())
        for v in data["views"][: 1 if only_first else None]:
            v["K"][0][0] = v["K"][1][1] = f_px
        cams.write_text(json.dumps(data))


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_training_takes_intrinsics_from_the_dataset(renders, tmp_path):  # noqa: F811
    from aist_app.scene.cameras import IntrinsicsError
    from aist_plugins.dpc.train import PoseTrainer

    assert PoseTrainer(tiny(), renders, tmp_path / "new").config.focal_length == \
        pytest.approx(1.875)
    old = tmp_path / "old"  # a dataset written before f = 1.875 W (f = 1.875 W / 2)
    shutil.copytree(renders, old)
    _rewrite_k(old, 1.875 * 64 / 2)
    t = PoseTrainer(tiny(steps=1), old, tmp_path / "run-old")
    assert t.config.focal_length == pytest.approx(0.9375)
    from aist_app.api.progress import drain

    drain(t.run())
    saved = json.loads((tmp_path / "run-old" / "config.json").read_text())
    assert saved["config"]["focal_length"] == pytest.approx(0.9375)
    mixed = tmp_path / "mixed"
    shutil.copytree(renders, mixed)
    _rewrite_k(mixed, 100.0, only_first=True)
    with pytest.raises(IntrinsicsError, match="cameras.json.*differs"):
        PoseTrainer(tiny(), mixed, tmp_path / "run-mixed")


def test_real_dataset_is_refused_for_training(renders, tmp_path):  # noqa: F811
    from aist_app.dataset import Dataset
    from aist_app.dataset.writer import DatasetWriter
    from aist_plugins.dpc.train import PoseTrainer

    src = Dataset.open(renders)
    real = tmp_path / "real"
    with DatasetWriter(real, kind="real", image_size=(64, 64)) as w:
        for oid in src.object_ids():
            with w.object(oid) as o:
                o.add_view(src.load_view(oid, "view_000.png"))
                o.set_provenance({"photo": "x.jpg"})
        w.finalize(splits={"train": src.object_ids(), "val": [], "test": []})
    with pytest.raises(ValueError, match="a real dataset without cameras"):
        PoseTrainer(tiny(), real, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_shape_from_one_view_per_object_and_pose_trunk():
    cfg = PoseConfig(image_size=32, f_dim=4, fc_dim=16, z_dim=24, num_points=50)
    model = dpc_model(config=cfg)
    assert model.pose_fc[0].in_features == 16 and model.pose_fc[0].out_features == 24
    assert isinstance(model.pose_fc[1], torch.nn.ReLU)  # slim's default activation
    assert model.ensemble[0][0].in_features == 24
    out = model(torch.zeros(8, 3, 32, 32), torch.tensor([0, 4]))
    assert out["points"].shape == (2, 50, 3) and out["scale"].shape == (2,)
    assert out["candidates"].shape == (8, 4, 4) and out["student"].shape == (8, 4)
    # Changing only a non-first view changes no shape and no other view's pose.
    x = torch.randn(8, 3, 32, 32)
    a = model(x, torch.tensor([0, 4]))
    x[1] += 1.0
    b = model(x, torch.tensor([0, 4]))
    assert torch.equal(a["points"], b["points"])
    assert torch.equal(a["candidates"][0], b["candidates"][0])
    assert not torch.equal(a["candidates"][1], b["candidates"][1])
    # Plain Adam, decay in the loss: the optimizer has no weight decay of its own.
    cfg2 = PoseConfig()
    assert cfg2.batch_objects == 8 and cfg2.views_per_object == 4
    assert cfg2.weight_decay == 1e-3 and cfg2.amp is False and cfg2.checkpoint_every == 5000


def test_reference_objective_projects_one_shape_per_object(renders):  # noqa: F811
    from aist_plugins.dpc.loss import dpc_loss

    calls = []
    import aist_plugins.dpc.loss as L

    real_project = L.project

    def spy(points, q, **kw):
        calls.append(points.shape[0])
        return real_project(points, q, **kw)

    b, v, k, g = 2, 3, 4, 16
    cfg = PoseConfig(vox_size=g, kernel_size=5, ensemble=k, views_per_object=v)
    out = {"points": torch.rand(b, 100, 3) - 0.5, "scale": torch.ones(b),
           "candidates": Q.normalize(torch.randn(b * v, k, 4)),
           "student": Q.normalize(torch.randn(b * v, 4))}
    L.project = spy
    try:
        dpc_loss(out, torch.zeros(b, v, g, g), cfg, 0, torch.Generator().manual_seed(0))
    finally:
        L.project = real_project
    assert calls == [b * v * k]  # not b * v * v * k


def test_icp_recovers_a_rotation_and_the_reference_keeps_the_best():
    rng = np.random.default_rng(0)
    gt = rng.uniform(-0.5, 0.5, size=(3000, 3)) * [1.0, 0.4, 0.6]
    from scipy.spatial.transform import Rotation

    R = Rotation.from_euler("xyz", [20, -35, 50], degrees=True).as_matrix()
    pred = gt @ R  # pred = R^T gt: the rotation taking pred to gt is R
    init = Rotation.from_euler("xyz", [28, -30, 44], degrees=True).as_matrix()
    res = icp(pred, gt, init)
    assert np.allclose(res.transformation[:3, :3], R, atol=1e-3)
    assert res.inlier_rmse < 1e-3 and res.fitness == 1.0
    # Per object the 2 lowest-RMSE views, then the best objects: an outlier view and an
    # outlier object do not move the average.
    good = Q.from_matrix(torch.from_numpy(R)).numpy()
    bad = np.array([0.0, 1.0, 0.0, 0.0])
    rot = np.array([[good, good, bad], [bad, bad, bad]] + [[good, good, good]] * 15)
    rmse = np.array([[0.01, 0.02, 0.5], [0.9, 0.9, 0.9]] + [[0.03, 0.03, 0.03]] * 15)
    q, kept = reference_rotation(rot, rmse)
    assert 1 not in kept["objects"] and len(kept["objects"]) == 15
    assert np.allclose(q, good, atol=1e-9)
    assert np.allclose(Q.average(torch.from_numpy(np.stack([good, -good]))).numpy(), good)


def _folded_alignment(seed: int, objects: int, views: int = 5, flip_rate: float = 0.3,
                      modal: bool = True):
    """The reference's selection on a folded model: each view's ICP rotation is the true
    frame, or (at ``flip_rate``) the frame turned 180 degrees about the up axis (a car seen
    from the back taken for its front), with RMSEs that do not tell the two apart."""
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    true = Rotation.from_euler("xyz", [10, 70, -5], degrees=True)
    flip = Rotation.from_euler("y", 180, degrees=True)
    rot = np.empty((objects, views, 4))
    for i in range(objects):
        for j in range(views):
            r = true * flip if rng.random() < flip_rate else true
            r = r * Rotation.from_rotvec(rng.normal(scale=0.03, size=3))  # ICP noise
            xyzw = r.as_quat()
            rot[i, j] = [xyzw[3], *xyzw[:3]]
    rmse = rng.uniform(0.02, 0.04, size=(objects, views))
    q, _ = reference_rotation(rot, rmse, modal=modal)
    got = Rotation.from_quat([q[1], q[2], q[3], q[0]])
    return np.degrees((got.inv() * true).magnitude())


def test_a_folded_runs_alignment_is_stable_across_seeds():
    """With 50 alignment objects (30 rotations averaged) the majority frame wins on every
    seed; with the 4 validation objects of a small preset (8 rotations) it flips on some."""
    errors = [_folded_alignment(seed, 50) for seed in range(20)]
    assert max(errors) < 10, errors
    few = [_folded_alignment(seed, 4) for seed in range(20)]
    assert max(few) > 90, few


def test_a_fold_of_two_near_equal_halves_gives_one_of_its_frames():
    """A model folded about the up axis takes about half the views from the other end of the
    car (55 of 96 held-out views in the cpu preset's runs): the reference's Markley average
    of its two modes is a rotation between them on some seeds, a frame that is neither (a
    run measured 90 degrees from both); the majority mode's average is always one of the
    two frames (the true one, or the true one turned 180 degrees)."""
    def in_between(errors):
        return [e for e in errors if 20 < e < 160]

    reference = [_folded_alignment(seed, 50, flip_rate=0.5, modal=False) for seed in range(20)]
    assert in_between(reference), reference
    modal = [_folded_alignment(seed, 50, flip_rate=0.5) for seed in range(20)]
    assert not in_between(modal), modal
    assert min(modal) < 10 and max(modal) > 170, modal  # either frame: the fold's ambiguity


def test_alignment_never_uses_test_objects(renders, tmp_path):  # noqa: F811
    from aist_app.pose.data import alignment_data

    ds = json.loads((renders / "dataset.json").read_text())
    data = alignment_data(renders)
    assert not set(data.ids) & set(ds["splits"]["test"])
    # Fewer than 50 validation objects: topped up with training objects, validation first.
    val, train = ds["splits"]["val"], ds["splits"]["train"]
    assert data.ids == (val + train)[:50] and data.split == "val+train"
    assert alignment_data(renders, objects=len(val)).ids == val[:50]
    no_val = tmp_path / "noval"
    shutil.copytree(renders, no_val)
    ds["splits"]["train"] += ds["splits"]["val"]
    ds["splits"]["val"] = []
    (no_val / "dataset.json").write_text(json.dumps(ds))
    data = alignment_data(no_val)
    assert data.split == "train" and not set(data.ids) & set(ds["splits"]["test"])


def test_full_preset_is_the_reports_experiment(tmp_path):
    from aist_app.dataset.splits import reference_lists, split_objects
    from aist_app.experiments.experiment import load_config
    from aist_app.experiments.presets import PRESETS

    with pytest.raises(ValueError, match="needs your data.*--meshes.*--photos"):
        load_config(None, "full")
    cfg = load_config(None, "full", meshes=tmp_path, photos=tmp_path)
    assert cfg["render"]["elevation"] == "-20:40" and cfg["render"]["splits"] == "reference"
    assert cfg["pose"]["checkpoint_every"] == 5000
    assert PRESETS["full-0to40"]["render"]["elevation"] == "0:40"
    listed = reference_lists()
    counts = {s: sum(1 for v in listed.values() if v == s) for s in ("train", "val", "test")}
    assert counts == {"train": 5247, "val": 750, "test": 1500}
    known = ["732606e13ef11f465acf55f30acc008d"]  # first of the reference's car train list
    others = [f"obj{i:04d}" for i in range(100)]
    s = split_objects(known + others, "reference")
    assert "732606e13ef11f465acf55f30acc008d" in s["train"]
    assert (len(s["train"]), len(s["val"]), len(s["test"])) == (71, 10, 20)
