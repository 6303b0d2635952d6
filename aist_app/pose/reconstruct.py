"""Reconstruct one view: the predicted point cloud and camera, in the ground-truth frame of
the run's training data (the Blender add-on imports the result next to the mesh)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import torch

from aist_app.common.checkpoints import recorded_path
from aist_app.common.io_utils import atomic_write_bytes, atomic_write_json
from aist_app.pose import quaternion as Q
from aist_app.pose.data import alignment_data, images_and_masks


def run_alignment(ev) -> np.ndarray:
    """The run's reference rotation (cached in ``RUN/alignment.json``)."""
    run_dir = Path(ev.ck["path"]).parent.parent
    cache = run_dir / "alignment.json"
    if cache.is_file():
        meta = json.loads(cache.read_text())
        if meta.get("step") == int(ev.ck["step"]):
            return np.asarray(meta["quaternion_wxyz"])
    align, info = ev.alignment(alignment_data(recorded_path(ev.ck, ev.ck["dataset"])))
    atomic_write_json(cache, {"quaternion_wxyz": align.tolist(), "step": int(ev.ck["step"]),
                              **info})
    return align


def to_truth_frame(points, quaternion, align: np.ndarray, distance: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A prediction in the ground-truth frame given by ``align`` (float64): points (N, 3),
    the quaternion (4,) and the camera's world_to_camera (4, 4) at ``distance``."""
    A = torch.as_tensor(np.asarray(align), dtype=torch.float64)
    pts = torch.as_tensor(np.asarray(points), dtype=torch.float64) @ Q.to_matrix(
        Q.conjugate(A)).T
    q = Q.multiply(torch.as_tensor(np.asarray(quaternion), dtype=torch.float64), A)
    w2c = np.eye(4)
    w2c[:3, :3] = Q.to_matrix(q).numpy()
    w2c[2, 3] = distance
    return pts.numpy(), q.numpy(), w2c


def _view_input(ev, rgba: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """One (H, W, 4) view as the run's encoder image and mask."""
    c = ev.config
    return images_and_masks(torch.from_numpy(np.array(rgba)).permute(2, 0, 1)[None],
                            c.image_size, c.vox_size)


def _in_truth_frame(ev, points, quaternion, align: np.ndarray) -> dict:
    """A predicted cloud and pose as the reconstruction record, in the truth's frame."""
    c = ev.config
    pts, q, w2c = to_truth_frame(points.double().cpu(), quaternion.double().cpu(), align,
                                 c.camera_distance)
    return {"points": pts.astype(np.float32), "quaternion_wxyz": q.astype(np.float32),
            "world_to_camera": w2c.astype(np.float32),
            "focal_length": np.float32(c.focal_length)}


def predict_view(ev, rgba: np.ndarray, align: np.ndarray) -> dict:
    """Points (N, 3), quaternion and world_to_camera predicted from one (H, W, 4) view, in
    the ground-truth frame given by ``align``."""
    x, _ = _view_input(ev, rgba)
    with torch.no_grad():
        pred = ev.model(x.to(ev.device))
    return _in_truth_frame(ev, pred["points"][0], pred["student"][0], align)


def refine_view(ev, rgba: np.ndarray, align: np.ndarray, config=None, *,
                refiner=None) -> dict:
    """:func:`predict_view` refined by render-and-compare against the view's alpha
    (:mod:`aist_app.pose.refine`; ``refiner`` one built for this run, else one is built with
    ``config``), with the objective before and after."""
    from aist_app.pose.refine import run_refiner

    x, mask = _view_input(ev, rgba)
    res = (refiner or run_refiner(ev, align, config)).refine(x, mask)
    return {**_in_truth_frame(ev, res.points[0], res.quaternion[0], align),
            "refine_loss": np.float32(res.loss[0]),
            "refine_loss_start": np.float32(res.loss_start[0])}


def reconstruct(run: str | Path, image: str | Path, out: str | Path, *,
                device: str = "auto", refine=None) -> dict:
    """One image's reconstruction into ``out`` (.npz); ``refine`` (a
    :class:`~aist_app.pose.refine.RefineConfig`) refines it against the image's alpha."""
    from PIL import Image

    from aist_app.pose.evaluate import Evaluator

    ev = Evaluator(run, device=device)
    try:
        with Image.open(image) as im:
            rgba = np.asarray(im.convert("RGBA"))
    except Exception as e:
        raise ValueError(f"{image}: not a readable image ({e})") from None
    if refine is not None:
        try:
            result = refine_view(ev, rgba, run_alignment(ev), refine)
        except ValueError as e:
            raise ValueError(f"{image}: {e}") from None
    else:
        result = predict_view(ev, rgba, run_alignment(ev))
    buf = io.BytesIO()
    np.savez(buf, **result)
    atomic_write_bytes(Path(out), buf.getvalue())
    return result
