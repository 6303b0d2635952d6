"""The on-disk cache of a pose run's predictions (the Compare page's): what it stores is the
model's output, it survives a new session, and it is dropped when the checkpoint or the
test set changes or a file is damaged."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from aist_app.pose.data import PoseData
from aist_app.pose.evaluate import Evaluator
from aist_app.pose.prediction_cache import PredictionCache
from aist_plugins.dpc.predictor import DPCPredictor


@pytest.fixture
def run_and_set(cpu_experiment, tmp_path):
    out, p = cpu_experiment
    assert p.returncode == 0, p.stderr
    run = tmp_path / "pose-baseline"
    shutil.copytree(out / "pose-baseline" / "checkpoints", run / "checkpoints")
    return run, out / "target"


def test_cache_stores_predictions_and_is_invalidated(run_and_set, tmp_path):
    run, target = run_and_set
    data = PoseData(target, "test")
    views = [(oid, f) for oid in data.ids for f in data.views[oid][:3]]
    ev = Evaluator(DPCPredictor(run, device="cpu"))
    cache = PredictionCache(run, target, root=tmp_path / "c")
    progress = list(cache.fill(ev, data, views))
    assert progress[-1].done == progress[-1].total == len(data.ids)
    fresh = {(p.oid, p.file): p for p in ev.predict(data, render=True, views=views)}
    # A new session (a new cache object) reads what the first wrote.
    again = PredictionCache(run, target, root=tmp_path / "c")
    assert list(again.fill(ev, data, views)) == []
    for key, p in fresh.items():
        got = again.get(*key)
        np.testing.assert_allclose(got.points, p.points, atol=1e-6)
        np.testing.assert_allclose(got.quaternion, p.quaternion, atol=1e-6)
        np.testing.assert_allclose(got.proj, p.proj, atol=1e-6)
    assert again.get(views[0][0], "no-such-view.png") is None
    # A damaged object file is dropped and predicted again.
    path = again._path(views[0][0])
    path.write_bytes(b"not an npz")
    damaged = PredictionCache(run, target, root=tmp_path / "c")
    assert damaged.get(*views[0]) is None and not path.exists()
    assert len(list(damaged.fill(ev, data, views))) == 1
    # The run trains on (its checkpoint changes): everything cached is dropped.
    ck_path = run / "checkpoints" / "last.pt"
    ck = torch.load(ck_path, weights_only=True)
    name = next(iter(ck["model"]))
    ck["model"][name] = ck["model"][name] + 0.01
    torch.save(ck, ck_path)
    changed = PredictionCache(run, target, root=tmp_path / "c")
    assert changed.folder == again.folder
    assert not any(changed.has(oid) for oid in data.ids)
    assert [p.name for p in changed.folder.iterdir()] == ["key.json"]


def test_cache_needs_a_checkpoint(tmp_path, run_and_set):
    _, target = run_and_set
    with pytest.raises(FileNotFoundError, match="no pose-model checkpoint"):
        PredictionCache(tmp_path / "empty-run", target, root=tmp_path / "c")


def test_cache_of_another_pose_model(tmp_path, pyrender_dataset):
    """Any pose model's predictions are cached, keyed to its predictor's checkpoint (the
    third-party toy-mean here, whose run has no checkpoints/last.pt)."""
    from aist_app.api.progress import drain
    from tests.helpers.toy_stages import MeanPoseConfig, MeanPosePredictor, MeanPoseTrainer

    run = tmp_path / "mean"
    drain(MeanPoseTrainer(MeanPoseConfig(steps=2, num_points=100), pyrender_dataset, run).run())
    predictor = MeanPosePredictor(run)
    data = PoseData(pyrender_dataset, None)
    views = [(oid, f) for oid in data.ids for f in data.views[oid][:2]]
    cache = PredictionCache(run, pyrender_dataset, root=tmp_path / "c",
                            checkpoint=predictor.checkpoint)
    assert cache.checkpoint.name == "toy.json"
    assert list(cache.fill(Evaluator(predictor), data, views))[-1].done == len(data.ids)
    got = cache.get(*views[0])
    np.testing.assert_allclose(got.points, predictor.points, atol=1e-6)
    np.testing.assert_allclose(got.proj, predictor.silhouette, atol=1e-6)
