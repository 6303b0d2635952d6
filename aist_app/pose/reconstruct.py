"""Reconstruct one view: the predicted point cloud and camera, in the ground-truth frame of
the run's training data (the Blender add-on imports the result next to the mesh). Works
with any pose model's :class:`~aist_app.api.contracts.PosePredictor`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import torch

from aist_app.common.io_utils import atomic_write_bytes, atomic_write_json
from aist_app.pose import quaternion as Q
from aist_app.pose.data import alignment_data, check_object_view


def alignment_cache(predictor) -> Path:
    """Where a run's alignment is cached: the user's cache folder (``aist_app.pose.
    prediction_cache.cache_root``), keyed by the checkpoint file (path, size, time) and the
    step; never the run folder (looking at a run does not change it)."""
    import hashlib

    from aist_app.pose.prediction_cache import cache_root

    ck = Path(getattr(predictor, "checkpoint", None) or predictor.run_dir).resolve()
    try:
        st = ck.stat()
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        stamp = ""
    key = hashlib.sha256(f"{ck}|{stamp}|{predictor.step}".encode()).hexdigest()[:32]
    return cache_root() / "alignments" / f"{key}.json"


def run_alignment(predictor) -> np.ndarray:
    """The run's reference rotation (cached in :func:`alignment_cache`)."""
    from aist_app.pose.evaluate import Evaluator

    cache = alignment_cache(predictor)
    try:
        meta = json.loads(cache.read_text())
        if meta.get("step") == predictor.step:
            return np.asarray(meta["quaternion_wxyz"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # none yet, or unreadable: computed again
    align, info = Evaluator(predictor).alignment(alignment_data(predictor.training_set))
    try:
        atomic_write_json(cache, {"quaternion_wxyz": align.tolist(), "step": predictor.step,
                                  **info})
    except OSError:
        pass  # a read-only cache costs time, not a result
    return align


def to_truth_frame(points, quaternion, align: np.ndarray, distance: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A prediction in the ground-truth frame given by ``align`` (float64): points (N, 3),
    the quaternion (4,) and the camera's world_to_camera (4, 4) at ``distance``."""
    A = torch.as_tensor(np.asarray(align), dtype=torch.float64)
    pts = torch.as_tensor(np.asarray(points), dtype=torch.float64) @ Q.to_matrix(
        Q.conjugate(A)).T
    q = Q.multiply(torch.as_tensor(np.asarray(quaternion), dtype=torch.float64), A)
    if q[0] < 0:  # the dataset's convention (cameras.json): w >= 0
        q = -q
    w2c = np.eye(4)
    w2c[:3, :3] = Q.to_matrix(q).numpy()
    w2c[2, 3] = distance
    return pts.numpy(), q.numpy(), w2c


def in_truth_frame(predictor, pred: dict, align: np.ndarray) -> dict:
    """A view's prediction (``points``, ``quaternion`` in the model's frame, and any other
    figures) as the reconstruction record, in the truth's frame."""
    pts, q, w2c = to_truth_frame(pred["points"], pred["quaternion"], align,
                                 predictor.camera_distance)
    extra = {k: v for k, v in pred.items() if k not in ("points", "quaternion")}
    return {"points": pts.astype(np.float32), "quaternion_wxyz": q.astype(np.float32),
            "world_to_camera": w2c.astype(np.float32),
            "focal_length": np.float32(predictor.focal_length), **extra}


def refiner_of(predictor, align: np.ndarray, settings=None):
    """The predictor's test-time refiner with ``settings`` (its model's own), or a clear
    error when its model cannot refine."""
    if predictor.refiner is None:
        raise ValueError("this pose model cannot refine its predictions")
    return predictor.refiner(align, settings)


def reconstruct_view(predictor, rgba: np.ndarray, align: np.ndarray, *, refiner=None
                     ) -> dict:
    """One (H, W, 4) view's reconstruction record (refined by ``refiner``, one the predictor
    built, when given)."""
    if refiner is None:
        return in_truth_frame(predictor, predictor.predict_view(rgba), align)
    return in_truth_frame(predictor, predictor.refine_view(rgba, refiner), align)


def reconstruct(predictor, image: str | Path, out: str | Path, *, refine=None) -> dict:
    """One image's reconstruction into ``out`` (.npz); ``refine`` (the model's refinement
    settings) refines it against the image's alpha, when the model can."""
    from PIL import Image

    try:
        with Image.open(image) as im:
            rgba = np.asarray(im.convert("RGBA"))
    except Exception as e:
        raise ValueError(f"{image}: not a readable image ({e})") from None
    check_object_view(rgba, image)
    if Path(out).expanduser().resolve() == Path(image).expanduser().resolve():
        raise ValueError(f"{out}: is the input image; choose another --out")
    align = run_alignment(predictor)
    if refine is not None:
        try:
            result = reconstruct_view(predictor, rgba, align,
                                      refiner=refiner_of(predictor, align, refine))
        except ValueError as e:
            raise ValueError(f"{image}: {e}") from None
    else:
        result = reconstruct_view(predictor, rgba, align)
    buf = io.BytesIO()
    np.savez(buf, **result)
    atomic_write_bytes(Path(out), buf.getvalue())
    return result
