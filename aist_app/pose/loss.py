"""DPC's training objective: the min-over-ensemble projection loss over every (shape view,
pose view) pair of an object, and the student's distillation loss."""

from __future__ import annotations

import torch
from torch import Tensor

from aist_app.pose.config import PoseConfig
from aist_app.pose.projection import project
from aist_app.pose.quaternion import student_loss


def dropout_points(points: Tensor, keep: float, generator: torch.Generator) -> Tensor:
    """Keep a random ``keep`` fraction of each cloud's points (the same count for all)."""
    b, n, _ = points.shape
    k = max(1, int(round(n * keep)))
    if k >= n:
        return points
    idx = torch.argsort(torch.rand(b, n, generator=generator), dim=1)[:, :k]
    return torch.gather(points, 1, idx.to(points.device).unsqueeze(-1).expand(b, k, 3))


def dpc_loss(out: dict[str, Tensor], masks: Tensor, config: PoseConfig, step: int,
             generator: torch.Generator) -> dict[str, Tensor]:
    """``out`` from the model on B objects x V views (flattened, object-major); ``masks``
    (B, V, G, G). Each view's shape is projected with every view's pose candidates of the
    same object; the error of a pair is the min over candidates."""
    c = config
    bv, n, _ = out["points"].shape
    v = masks.shape[1]
    b = bv // v
    k = out["candidates"].shape[1]
    g = masks.shape[-1]
    pts = dropout_points(out["points"], c.keep_fraction(step), generator)  # (BV, n', 3)
    n2 = pts.shape[1]
    # (B, V1 shape, V2 pose, K) projections, flattened to M = B * V * V * K
    pts = pts.view(b, v, 1, 1, n2, 3).expand(b, v, v, k, n2, 3).reshape(-1, n2, 3)
    cand = out["candidates"].view(b, 1, v, k, 4).expand(b, v, v, k, 4).reshape(-1, 4)
    scale = out["scale"].view(b, v, 1, 1).expand(b, v, v, k).reshape(-1)
    proj = project(pts, cand, size=g, sigma=c.sigma(step), kernel_size=c.kernel_size,
                   scale=scale, focal_length=c.focal_length, distance=c.camera_distance,
                   clip=c.drc_clip)["silhouette"].view(b, v, v, k, g, g)
    target = masks.view(b, 1, v, 1, g, g)
    err = ((proj - target) ** 2).sum(dim=(-1, -2))  # (B, V1, V2, K)
    best_err, _ = err.min(dim=-1)
    proj_loss = best_err.mean()
    # The student learns each view's best candidate (summed over the shapes it was tried on).
    best = err.detach().sum(dim=1).argmin(dim=-1)  # (B, V2)
    teacher = out["candidates"].view(b, v, k, 4).gather(
        2, best.view(b, v, 1, 1).expand(b, v, 1, 4)).squeeze(2).detach()
    stud = student_loss(out["student"].view(b, v, 4), teacher).mean()
    total = proj_loss + c.student_weight * stud
    return {"total": total, "projection": proj_loss.detach(), "student": stud.detach(),
            "sigma": torch.tensor(c.sigma(step)), "keep": torch.tensor(c.keep_fraction(step))}
