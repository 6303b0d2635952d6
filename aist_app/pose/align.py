"""Aligning the model's frame to the ground truth's, as the reference's
``dpc/run/compute_alignment.py``: for each view of the first 50 alignment objects, the
rotation ``conj(q_gt) q_pred`` initialises point-to-point ICP of the predicted cloud onto the
ground truth (Open3D ``registration_icp``, correspondence threshold 0.2, its default 30
iterations and 1e-6 convergence); per object the 2 views with the lowest inlier RMSE are kept,
then the 15 objects with the lowest mean RMSE, and their 30 rotations are averaged (Markley).

One deviation (``modal``, on by default; docs/reference-fidelity.md): only the rotations of
the majority mode are averaged, those within 45 degrees of the kept rotation with the most
such neighbours. A model that takes some views from the other end of the car gives two
modes 180 degrees apart, and Markley's average of two near-equal modes is a rotation
between them (measured: 90 degrees from both, or 28 and 150), a frame that is neither; the
mode is one of the two. Where every kept rotation lies in one mode it is the reference's
average.

ICP is written here (SciPy k-d tree + Kabsch) rather than taken from Open3D, whose wheel and
dependencies are ~0.5 GB for this one function; it follows Open3D's loop and definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

from aist_app.pose import quaternion as Q

NUM_OBJECTS = 50  # cfg.num_dataset_samples
VIEWS_PER_OBJECT = 2  # num_filtered
BEST_OBJECTS = 15  # num_to_estimate
ICP_THRESHOLD = 0.2
MODE_DEGREES = 45.0  # the majority mode: rotations this close to its centre
#: How evaluations and the validation that keeps a checkpoint align frames; recorded with
#: each evaluation, and part of an experiment's pose and evaluation stages.
ALIGNMENT = "reference, majority mode"


@dataclass
class ICPResult:
    transformation: np.ndarray  # 4x4, source -> target
    fitness: float  # fraction of source points with a correspondence
    inlier_rmse: float  # RMSE over the correspondences


def _kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """4x4 rigid transform minimizing sum |T src - dst|^2 (TransformationEstimationPointToPoint
    without scaling)."""
    cs, cd = src.mean(0), dst.mean(0)
    u, _, vt = np.linalg.svd((src - cs).T @ (dst - cd))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    R = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = cd - R @ cs
    return T


def icp(source: np.ndarray, target: np.ndarray, init: np.ndarray, *,
        threshold: float = ICP_THRESHOLD, max_iteration: int = 30,
        relative_fitness: float = 1e-6, relative_rmse: float = 1e-6,
        target_tree: cKDTree | None = None) -> ICPResult:
    """Point-to-point ICP as Open3D's ``registration_icp`` (``init`` a 4x4 or 3x3)."""
    tree = target_tree if target_tree is not None else cKDTree(target)
    T = np.eye(4)
    init = np.asarray(init, dtype=np.float64)
    if init.shape == (3, 3):
        T[:3, :3] = init
    else:
        T = init.copy()
    src = np.asarray(source, dtype=np.float64)

    def evaluate(T: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray, np.ndarray]:
        moved = src @ T[:3, :3].T + T[:3, 3]
        dist, idx = tree.query(moved, distance_upper_bound=threshold)
        ok = np.isfinite(dist)
        if not ok.any():  # Open3D reports RMSE 0 here; inf keeps such views last
            return 0.0, float("inf"), moved, ok, idx
        return float(ok.mean()), float(np.sqrt(np.mean(dist[ok] ** 2))), moved, ok, idx

    fitness, rmse, moved, ok, idx = evaluate(T)
    for _ in range(max_iteration):
        if ok.sum() < 3:
            break
        T = _kabsch(moved[ok], tree.data[idx[ok]]) @ T
        prev_fitness, prev_rmse = fitness, rmse
        fitness, rmse, moved, ok, idx = evaluate(T)
        if abs(prev_fitness - fitness) < relative_fitness and \
                abs(prev_rmse - rmse) < relative_rmse:
            break
    return ICPResult(T, fitness, rmse)


def majority_mode(qs: np.ndarray, degrees: float = MODE_DEGREES) -> np.ndarray:
    """The rows of ``qs`` (n, 4) within ``degrees`` of the row with the most rows that close
    (itself included; ties: the first such row)."""
    t = torch.from_numpy(qs)
    close = (Q.angle_deg(t[:, None], t[None, :]) < degrees).numpy()
    return qs[close[int(np.argmax(close.sum(axis=1)))]]


def reference_rotation(rotations: np.ndarray, rmse: np.ndarray, *,
                       views: int = VIEWS_PER_OBJECT, objects: int = BEST_OBJECTS,
                       modal: bool = True) -> tuple[np.ndarray, dict]:
    """The reference's selection: (objects, views, 4) per-view ICP rotations (model frame ->
    ground truth, w x y z) and their (objects, views) RMSE -> averaged quaternion and what was
    kept. Views without a result carry RMSE inf (the reference's 1.0 default does the same
    job); NaN rotations are dropped before averaging, as the reference does. ``modal``: the
    majority mode's rotations alone are averaged (the module's one deviation);
    ``modal=False`` averages all of them, as the reference does."""
    order = np.argsort(rmse, axis=1, kind="stable")[:, :views]
    kept_rmse = np.take_along_axis(rmse, order, axis=1)
    kept_rot = np.take_along_axis(rotations, order[..., None], axis=1)
    best = np.argsort(kept_rmse.mean(axis=1), kind="stable")[:objects]
    chosen = kept_rot[best].reshape(-1, 4)
    chosen = chosen[~np.isnan(chosen).any(axis=1)]
    if not len(chosen):
        raise ValueError("no view could be aligned (every ICP failed)")
    averaged = majority_mode(chosen) if modal else chosen
    avg = Q.average(torch.from_numpy(averaged)).numpy()  # quatWAvgMarkley, unit weights
    return avg, {"objects": best.tolist(), "rmse": kept_rmse[best].tolist(),
                 "averaged": f"{len(averaged)} of {len(chosen)} rotations"}
